/**
 * Progress of long CLI work (ingest, replay): a bar with percentage, rate and ETA redrawn in place on
 * a terminal; otherwise (logs and pipes get no carriage returns) nothing while running, or one plain
 * line every `plainEveryMs`; and one summary line at the end.
 */

/** Where progress goes: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface ProgressOptions {
  /** What is being done, e.g. `ingest envoy`. */
  label: string;
  /** Total work in `done` units (bytes of input files); 0 or absent = unknown (no bar, no ETA). */
  total?: number;
  /** Unit of `total`/`done`: bytes are shown as KiB/MiB. */
  unit?: 'bytes' | 'items';
  /** Name of the counted items, plural (`lines`, `messages`). */
  items?: string;
  stream?: ProgressStream;
  /** Draw on this stream even if it is not a TTY (tests); default: only on a TTY. */
  forceTty?: boolean;
  /** Write the summary line on finish() when not drawing on a TTY. Default true. */
  summaryWhenNotTty?: boolean;
  /** Minimum time between redraws, ms. 0 = every update. Default 100. */
  redrawMs?: number;
  /**
   * When not drawing on a TTY: write one plain progress line (no bar, no control characters) at most
   * every this many ms, on update. 0 or absent = none (only the summary).
   */
  plainEveryMs?: number;
  /** Clock in ms (injected in tests). */
  now?: () => number;
}

const BAR_MIN = 10;
const BAR_MAX = 40;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Seconds as `45s`, `3m05s`, `2h07m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = -Infinity;
  private lastPlain: number;
  private done = 0;
  private count = 0;
  private drawn = false;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(opts.forceTty ?? this.stream.isTTY);
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.lastPlain = this.started;
  }

  /** Record progress: `done` in total's units, `count` items so far. Redraws at most every redrawMs. */
  update(done: number, count = this.count): void {
    if (this.finished) return;
    this.done = done;
    this.count = count;
    if (!this.tty) {
      const every = this.opts.plainEveryMs ?? 0;
      if (every <= 0) return;
      const t = this.now();
      if (t - this.lastPlain < every) return;
      this.lastPlain = t;
      this.stream.write(`${this.plainLine(t)}\n`);
      return;
    }
    const t = this.now();
    if (t - this.lastDraw < (this.opts.redrawMs ?? 100)) return;
    this.lastDraw = t;
    this.draw(this.line(t));
  }

  /** The line a terminal shows now. */
  line(t = this.now()): string {
    const { total, label, items } = this.opts;
    const elapsed = Math.max(0.001, (t - this.started) / 1000);
    const counted = items ? [`${formatCount(this.count)} ${items}`, `${formatCount(this.count / elapsed)} ${items}/s`] : [];
    if (!total || total <= 0) return `  ${label}  ${counted.join('  ')}`.trimEnd();
    const frac = Math.min(1, Math.max(0, this.done / total));
    const amount = this.opts.unit === 'bytes' ? `${formatBytes(this.done)}/${formatBytes(total)}` : `${formatCount(this.done)}/${formatCount(total)}`;
    const rate = this.done / elapsed;
    const eta = frac < 1 && rate > 0 && elapsed >= 0.5 ? [`ETA ${formatDuration((total - this.done) / rate)}`] : [];
    const text = [`${String(Math.floor(frac * 100)).padStart(3)}%`, amount, ...counted, ...eta].join('  ');
    const width = Math.min(BAR_MAX, Math.max(BAR_MIN, (this.stream.columns ?? 80) - label.length - text.length - 8));
    const filled = Math.round(frac * width);
    return `  ${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${text}`;
  }

  /** The periodic line of a log or pipe: `replay: 45%  4,500/10,000  4,400 messages  1,200 messages/s  ETA 5s`. */
  plainLine(t = this.now()): string {
    const { label, total, items } = this.opts;
    const elapsed = Math.max(0.001, (t - this.started) / 1000);
    const counted = items ? [`${formatCount(this.count)} ${items}`, `${formatCount(this.count / elapsed)} ${items}/s`] : [];
    if (!total || total <= 0) return [`${label}:`, ...counted, `${formatDuration(elapsed)} elapsed`].join('  ');
    const frac = Math.min(1, Math.max(0, this.done / total));
    const amount = this.opts.unit === 'bytes' ? `${formatBytes(this.done)}/${formatBytes(total)}` : `${formatCount(this.done)}/${formatCount(total)}`;
    const rate = this.done / elapsed;
    const eta = frac < 1 && rate > 0 ? [`ETA ${formatDuration((total - this.done) / rate)}`] : [];
    return [`${label}:`, `${Math.floor(frac * 100)}%`, amount, ...counted, ...eta].join('  ');
  }

  /** Time and rate so far: `in 1.5s (8,230 lines/s)`. */
  timing(t = this.now()): string {
    const elapsed = Math.max(0.001, (t - this.started) / 1000);
    const rate = this.opts.items ? ` (${formatCount(this.count / elapsed)} ${this.opts.items}/s)` : this.opts.unit === 'bytes' ? ` (${formatBytes(this.done / elapsed)}/s)` : '';
    return `in ${elapsed < 10 ? elapsed.toFixed(1) : Math.round(elapsed)}s${rate}`;
  }

  /** The summary: `ingest envoy: 12,345 lines, 2.3 MiB in 1.5s (8,230 lines/s)`. */
  summary(t = this.now()): string {
    const what = [this.opts.items ? `${formatCount(this.count)} ${this.opts.items}` : '', this.opts.unit === 'bytes' ? formatBytes(this.done) : ''].filter(Boolean).join(', ');
    return `${this.opts.label}: ${what ? `${what} ` : ''}${this.timing(t)}`;
  }

  /** Stop: replace the bar by the summary on a terminal; otherwise print the summary (if enabled). Idempotent. */
  finish(): string {
    const s = this.summary();
    if (this.finished) return s;
    this.finished = true;
    if (this.tty) this.draw(`  ${s}`, true);
    else if (this.opts.summaryWhenNotTty ?? true) this.stream.write(`${s}\n`);
    return s;
  }

  /**
   * Stop and erase the bar, without a summary: on error (the message starts on a clean line), or
   * when the caller prints its own summary (with timing()).
   */
  clear(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
  }

  private draw(line: string, final = false): void {
    const cols = this.stream.columns ?? 0;
    const fitted = cols > 0 && line.length >= cols ? line.slice(0, cols - 1) : line;
    this.stream.write(`\r\x1b[2K${fitted}${final ? '\n' : ''}`);
    this.drawn = !final;
  }
}
