import { OpenRecords, Watermark, streamOf } from './watermark';

describe('correlate/watermark', () => {
  it('calls an event too early when it is dated more than maxAheadMs ahead of the clock (none by default)', () => {
    const now = 1_000_000;
    expect(new Watermark(10_000, 60_000, () => now).isTooEarly(Date.UTC(2399, 0, 1))).toBe(false);
    const wm = new Watermark(10_000, 60_000, () => now, 5_000);
    expect(wm.isTooEarly(now + 5_000)).toBe(false);
    expect(wm.isTooEarly(now + 5_001)).toBe(true);
    expect(wm.isTooEarly(Number.NaN)).toBe(false);
  });

  it('is the slowest active source minus the lateness, so a lagging topic holds it back', () => {
    let now = 0;
    const wm = new Watermark(10_000, 60_000, () => now);
    expect(wm.value()).toBe(-Infinity);
    wm.observe('envoy', 1_000_000);
    wm.observe('otlp', 400_000); // five minutes behind
    expect(wm.value()).toBe(390_000);
    expect(wm.isTooLate(395_000)).toBe(false);
    expect(wm.isTooLate(389_999)).toBe(true);
  });

  it('stops waiting for a source that has been silent longer than the idle timeout', () => {
    let now = 0;
    const wm = new Watermark(10_000, 60_000, () => now);
    wm.observe('otlp', 400_000);
    now = 30_000;
    wm.observe('envoy', 1_000_000);
    now = 70_000; // otlp silent for 70 s
    expect(wm.value()).toBe(990_000);
  });

  it('holds the watermark back for an expected stream until it delivers, or until it has been idle too long', () => {
    let now = 0;
    const wm = new Watermark(10_000, 60_000, () => now);
    wm.expect('tyk:gw:0');
    wm.observe('envoy:mesh:0', 1_000_000);
    expect(wm.value()).toBe(-Infinity);
    expect(wm.isTooLate(1)).toBe(false);
    expect(wm.isLate('tyk:gw:0', 1)).toBe(false);
    // Expecting it again while it is still silent (its group joined late) restarts its idle clock.
    now = 50_000;
    wm.expect('tyk:gw:0');
    now = 100_000;
    wm.observe('envoy:mesh:0', 1_000_000);
    expect(wm.value()).toBe(-Infinity);
    wm.observe('tyk:gw:0', 400_000);
    expect(wm.value()).toBe(390_000);
    // Expecting a stream that has delivered changes nothing.
    wm.expect('tyk:gw:0');
    expect(wm.value()).toBe(390_000);
    now = 170_000; // tyk silent for 70 s
    wm.observe('envoy:mesh:0', 1_000_000);
    expect(wm.value()).toBe(990_000);
  });

  it('names a stream by source, topic and partition (Kafka), else by source', () => {
    expect(streamOf({ source: 'envoy', topic: 'mesh', partition: 3 })).toBe('envoy:mesh:3');
    expect(streamOf({ source: 'tyk' })).toBe('tyk');
  });

  it('says an event is late (out of order) relative to its own source', () => {
    const wm = new Watermark(10_000);
    wm.observe('tyk', 5_000);
    expect(wm.isLate('tyk', 4_000)).toBe(true);
    expect(wm.isLate('tyk', 6_000)).toBe(false);
    expect(wm.isLate('panos', 1)).toBe(false);
  });

  it('keeps open records bounded and counts evictions', () => {
    const open = new OpenRecords(2);
    open.touch('a', 100);
    open.touch('b', 200);
    open.touch('c', 300);
    expect(open.size).toBe(2);
    expect(open.evicted).toBe(1);
    expect(open.prune(250)).toBe(1);
  });
});
