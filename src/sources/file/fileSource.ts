import fs from 'node:fs';
import type { RawRecord, SourceType } from '../../model/events';

export interface FileBatch {
  records: RawRecord[];
  /** Bytes read so far across all files (for progress). */
  bytesRead: number;
}

/**
 * Reads line-delimited files (or stdin for `-`) as raw records, one per line, with file/line
 * coordinates, in batches. Lines are split on \n (a trailing \r is dropped); bytes are kept as
 * they are, so invalid UTF-8 reaches the parser (and its dead letter) unchanged.
 */
export async function* readLines(files: string[], source: SourceType, batchSize = 2000): AsyncGenerator<FileBatch> {
  let bytesRead = 0;
  let batch: RawRecord[] = [];
  for (const file of files) {
    const stream = file === '-' ? process.stdin : fs.createReadStream(file);
    const name = file === '-' ? '<stdin>' : file;
    let line = 0;
    let pending: Buffer[] = [];
    const emit = (buf: Buffer) => {
      line++;
      const value = buf.length && buf[buf.length - 1] === 0x0d ? buf.subarray(0, buf.length - 1) : buf;
      // Blank lines are separators, not records.
      if (value.length === 0) return;
      batch.push({ value, ref: { source, file: name, line }, receivedAtMs: Date.now() });
    };
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead += chunk.length;
      let start = 0;
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, start)) {
        const part = chunk.subarray(start, i);
        emit(pending.length ? Buffer.concat([...pending, part]) : Buffer.from(part));
        pending = [];
        start = i + 1;
      }
      if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
      if (batch.length >= batchSize) {
        yield { records: batch, bytesRead };
        batch = [];
      }
    }
    if (pending.length) emit(Buffer.concat(pending));
  }
  if (batch.length) yield { records: batch, bytesRead };
}
