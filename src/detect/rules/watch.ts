import fs from 'node:fs';
import path from 'node:path';

/**
 * Calls `onChange` when the watched files change: fs.watch on the directory (debounced, so an
 * editor's write-rename-chmod burst is one reload), plus a periodic poll of names, sizes and mtimes
 * as a fallback where fs.watch is unreliable (network filesystems, some containers, editors that
 * replace the directory entry). Each change is reported once: the signature is updated before the
 * callback, so an invalid file is not reloaded again until it changes again.
 */
export interface WatchOptions {
  /** A directory (every `*.yaml`/`*.yml` in it) or a single file. */
  target: string;
  kind: 'dir' | 'file';
  /** Quiet time after the last fs.watch event before reloading, in ms. */
  debounceMs: number;
  /** Poll interval, in ms. 0 = no polling (fs.watch only). */
  pollIntervalMs: number;
  onChange: () => void;
  /** fs.watch failures (e.g. the directory vanished); polling continues. */
  onError?: (e: Error) => void;
}

export class FileWatcher {
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private last: string;
  private stopped = false;

  constructor(private readonly opts: WatchOptions) {
    this.last = this.signature();
  }

  /** Names, sizes and mtimes of the watched files: equal signatures mean nothing changed. */
  signature(): string {
    const { target, kind } = this.opts;
    const stat = (f: string) => {
      try {
        const s = fs.statSync(f);
        return `${path.basename(f)}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${path.basename(f)}:-`;
      }
    };
    if (kind === 'file') return stat(target);
    try {
      return fs
        .readdirSync(target)
        .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.'))
        .sort()
        .map((n) => stat(path.join(target, n)))
        .join('|');
    } catch {
      return '-';
    }
  }

  start(): void {
    const { target, kind } = this.opts;
    const dir = kind === 'dir' ? target : path.dirname(target);
    const base = path.basename(target);
    try {
      this.watcher = fs.watch(dir, { persistent: false }, (_ev, name) => {
        if (kind === 'file' && name && name.toString() !== base) return;
        this.schedule();
      });
      this.watcher.on('error', (e) => this.opts.onError?.(e));
    } catch (e) {
      // A directory that does not exist (yet) is the poll's job; anything else is worth a warning.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.onError?.(e as Error);
    }
    if (this.opts.pollIntervalMs > 0) {
      this.poll = setInterval(() => this.check(), this.opts.pollIntervalMs);
      this.poll.unref();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.check();
    }, this.opts.debounceMs);
    this.debounce.unref();
  }

  /** Compare the signature now and call onChange if it moved. Returns whether it did. */
  check(): boolean {
    if (this.stopped) return false;
    const sig = this.signature();
    if (sig === this.last) return false;
    this.last = sig;
    this.opts.onChange();
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.poll) clearInterval(this.poll);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
