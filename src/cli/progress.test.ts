import { Progress, formatBytes, formatDuration, type ProgressStream } from './progress';

function fake(isTTY: boolean, columns = 100): ProgressStream & { out: string } {
  const s = { isTTY, columns, out: '', write: (x: string) => ((s.out += x), true) };
  return s;
}

describe('cli/progress', () => {
  it('draws a bar with percentage, amount, rate and ETA in place on a terminal', () => {
    let t = 0;
    const stream = fake(true);
    const p = new Progress({ label: 'ingest envoy', total: 4 * 1024 * 1024, unit: 'bytes', items: 'lines', stream, now: () => t, redrawMs: 100 });
    t = 2000;
    p.update(1024 * 1024, 5000);
    const m = /^\r\x1b\[2K {2}ingest envoy \[(█*)(░*)\] {2}25% {2}1\.0 MiB\/4\.0 MiB {2}5,000 lines {2}2,500 lines\/s {2}ETA 6s$/.exec(stream.out);
    expect(m).not.toBeNull();
    const [filled, empty] = [m![1]!.length, m![2]!.length];
    expect(filled + empty).toBeGreaterThanOrEqual(10);
    expect(filled / (filled + empty)).toBeCloseTo(0.25, 1);
    expect(stream.out.length - 5).toBeLessThan(100); // fits the 100 columns
    // Throttled: a second update within 100 ms draws nothing.
    const before = stream.out;
    t = 2050;
    p.update(2 * 1024 * 1024, 6000);
    expect(stream.out).toBe(before);
    t = 4000;
    expect(p.finish()).toBe('ingest envoy: 6,000 lines, 2.0 MiB in 4.0s (1,500 lines/s)');
    expect(stream.out.endsWith('\r\x1b[2K  ingest envoy: 6,000 lines, 2.0 MiB in 4.0s (1,500 lines/s)\n')).toBe(true);
  });

  it('writes nothing while running when not on a terminal, then one summary line', () => {
    let t = 0;
    const stream = fake(false);
    const p = new Progress({ label: 'replay tyk', items: 'messages', stream, now: () => t });
    for (let i = 1; i <= 10; i++) {
      t = i * 100;
      p.update(0, i * 10);
    }
    expect(stream.out).toBe('');
    p.finish();
    p.finish(); // idempotent
    expect(stream.out).toBe('replay tyk: 100 messages in 1.0s (100 messages/s)\n');
  });

  it('writes a plain line (no bar, no control characters) every plainEveryMs when not on a terminal', () => {
    let t = 0;
    const stream = fake(false);
    const p = new Progress({ label: 'replay', total: 10_000, items: 'messages', stream, now: () => t, plainEveryMs: 10_000 });
    t = 4_000;
    p.update(2_000, 2_000);
    expect(stream.out).toBe(''); // not yet 10 s
    t = 10_000;
    p.update(4_000, 3_990);
    t = 15_000;
    p.update(6_000, 5_990); // within 10 s of the last line
    t = 20_000;
    p.update(10_000, 9_990);
    expect(stream.out).toBe('replay:  40%  4,000/10,000  3,990 messages  399 messages/s  ETA 15s\nreplay:  100%  10,000/10,000  9,990 messages  500 messages/s\n');
    expect(stream.out).not.toMatch(/[\r\x1b]/);
    p.finish();
    expect(stream.out.endsWith('replay: 9,990 messages in 20s (500 messages/s)\n')).toBe(true);
  });

  it('can leave the summary to the caller when not on a terminal', () => {
    const stream = fake(false);
    const p = new Progress({ label: 'ingest otlp', items: 'lines', stream, summaryWhenNotTty: false, now: () => 500 });
    p.update(10, 10);
    expect(p.finish()).toMatch(/^ingest otlp: 10 lines in /);
    expect(stream.out).toBe('');
  });

  it('shows a counter without bar or ETA when the total is unknown (stdin), and fits the terminal width', () => {
    let t = 0;
    const stream = fake(true, 30);
    const p = new Progress({ label: 'ingest panos', items: 'lines', stream, now: () => t, redrawMs: 0 });
    t = 1000;
    p.update(0, 42);
    expect(stream.out).toBe('\r\x1b[2K  ingest panos  42 lines  42 '); // cut to 29 of 30 columns
    p.clear();
    expect(stream.out.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('formats sizes and durations for people', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(50 * 1024 * 1024)]).toEqual(['512 B', '1.5 KiB', '50 MiB']);
    expect([formatDuration(5), formatDuration(185), formatDuration(7620), formatDuration(Infinity)]).toEqual(['5s', '3m05s', '2h07m', '?']);
  });
});
