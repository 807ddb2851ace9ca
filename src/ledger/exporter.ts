import fs from 'node:fs';
import path from 'node:path';
import type * as jose from 'jose';
import type { Producer } from 'kafkajs';
import type { Logger } from '../instrumentation/logger';
import { padSeq, type StoredCheckpoint } from './entry';
import { decodeCheckpoint } from './signing';

/**
 * Copies checkpoints out of the store, to places the store's administrators cannot rewrite:
 *
 * - `exportDir/checkpoints.jws`: one compact JWS per line, appended and fsync'ed (mount it from
 *   another host, WORM storage, or ship it with a log forwarder); `exportDir/keys.json` holds the
 *   public keys (JWKS, every key that ever signed, never pruned);
 * - a Kafka topic (long retention): key = zero-padded seq, value = the JWS.
 *
 * An outbox: the checkpoints are committed in the store first (with the batch that sealed them);
 * `sync()` copies the ones after the last exported seq. At least once: after a crash between the
 * append and the position update a checkpoint may be copied twice, identical, which readers skip.
 * The file's position is its last line; Kafka's is `<dataDir>/ledger-kafka-export.json`.
 */
export const CHECKPOINTS_FILE = 'checkpoints.jws';
export const KEYS_FILE = 'keys.json';

export interface ExporterOptions {
  dir?: string;
  kafka?: { producer: Producer; topic: string; stateFile: string };
  log: Logger;
}

export class CheckpointExporter {
  private fileSeq = 0;
  private kafkaSeq = 0;
  private syncing: Promise<void> | undefined;

  constructor(private readonly opts: ExporterOptions) {}

  get enabled(): boolean {
    return Boolean(this.opts.dir || this.opts.kafka);
  }

  /** Seq of the last checkpoint every destination has. */
  get position(): number {
    return Math.min(this.opts.dir ? this.fileSeq : Infinity, this.opts.kafka ? this.kafkaSeq : Infinity);
  }

  async init(keys: jose.JSONWebKeySet): Promise<void> {
    const { dir, kafka } = this.opts;
    if (dir) {
      fs.mkdirSync(dir, { recursive: true });
      this.mergeKeys(dir, keys);
      this.fileSeq = repairAndReadLastSeq(path.join(dir, CHECKPOINTS_FILE));
    }
    if (kafka) {
      await kafka.producer.connect();
      try {
        this.kafkaSeq = (JSON.parse(fs.readFileSync(kafka.stateFile, 'utf8')) as { seq?: number }).seq ?? 0;
      } catch {
        this.kafkaSeq = 0;
      }
    }
  }

  /** Copy every checkpoint after the last exported one. Concurrent calls share one run. */
  sync(after: (seq: number) => Promise<StoredCheckpoint[]>): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    this.syncing ??= this.syncNow(after).finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncNow(after: (seq: number) => Promise<StoredCheckpoint[]>): Promise<void> {
    const { dir, kafka } = this.opts;
    const from = Math.min(dir ? this.fileSeq : Infinity, kafka ? this.kafkaSeq : Infinity);
    const cps = await after(from);
    if (!cps.length) return;
    if (dir) {
      const lines = cps.filter((c) => c.seq > this.fileSeq).map((c) => `${c.jws}\n`).join('');
      if (lines) {
        appendDurably(path.join(dir, CHECKPOINTS_FILE), lines);
        this.fileSeq = cps[cps.length - 1]!.seq;
      }
    }
    if (kafka) {
      const msgs = cps.filter((c) => c.seq > this.kafkaSeq).map((c) => ({ key: padSeq(c.seq), value: c.jws }));
      if (msgs.length) {
        await kafka.producer.send({ topic: kafka.topic, acks: -1, messages: msgs });
        this.kafkaSeq = cps[cps.length - 1]!.seq;
        const tmp = `${kafka.stateFile}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ topic: kafka.topic, seq: this.kafkaSeq }));
        fs.renameSync(tmp, kafka.stateFile);
      }
    }
  }

  async close(): Promise<void> {
    await this.syncing;
    await this.opts.kafka?.producer.disconnect();
  }

  /** keys.json keeps every key that ever signed (a rotated key must still verify old checkpoints). */
  private mergeKeys(dir: string, keys: jose.JSONWebKeySet): void {
    const file = path.join(dir, KEYS_FILE);
    let cur: jose.JSONWebKeySet = { keys: [] };
    try {
      cur = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JSONWebKeySet;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`ledger.exportDir: ${file} is not a JWKS: ${(e as Error).message}`);
    }
    const known = new Set(cur.keys.map((k) => k.kid));
    const add = keys.keys.filter((k) => !known.has(k.kid));
    if (!add.length) return;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ keys: [...cur.keys, ...add] }, null, 2) + '\n');
    fs.renameSync(tmp, file);
    fsyncDir(dir);
  }
}

/** Append and fsync; a new file's directory entry is fsync'ed too. */
function appendDurably(file: string, text: string): void {
  const isNew = !fs.existsSync(file);
  const fd = fs.openSync(file, 'a', 0o644);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (isNew) fsyncDir(path.dirname(file));
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems cannot fsync a directory; the file itself is synced */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Seq of the file's last checkpoint; a torn last line (crash mid-append) is cut off first, so the
 * next append starts on a line of its own.
 */
function repairAndReadLastSeq(file: string): number {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return 0;
  }
  if (!size) return 0;
  const fd = fs.openSync(file, 'r+');
  try {
    const n = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    let text = buf.toString('utf8');
    if (!text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n');
      const keep = cut < 0 ? size - n : size - n + Buffer.byteLength(text.slice(0, cut + 1));
      fs.ftruncateSync(fd, keep);
      fs.fsyncSync(fd);
      text = cut < 0 ? '' : text.slice(0, cut + 1);
    }
    const lines = text.split('\n').filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      const p = decodeCheckpoint(lines[i]!.trim());
      if (p) return p.seq;
    }
    return 0;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read an export directory's checkpoints (deduplicated by seq; a conflicting duplicate is kept as such). */
export function readExportedCheckpoints(dir: string): { checkpoints: StoredCheckpoint[]; conflicts: StoredCheckpoint[]; unreadable: number[] } {
  const file = path.join(dir, CHECKPOINTS_FILE);
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const bySeq = new Map<number, string>();
  const conflicts: StoredCheckpoint[] = [];
  const unreadable: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const p = decodeCheckpoint(line);
    if (!p) {
      unreadable.push(i + 1);
      return;
    }
    const cur = bySeq.get(p.seq);
    if (cur === undefined) bySeq.set(p.seq, line);
    else if (cur !== line) conflicts.push({ seq: p.seq, jws: line });
  });
  const checkpoints = [...bySeq].map(([seq, jws]) => ({ seq, jws })).sort((a, b) => a.seq - b.seq);
  return { checkpoints, conflicts, unreadable };
}
