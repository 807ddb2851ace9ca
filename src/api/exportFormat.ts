import type { AuditRecord } from '../model/record';
import { getPath } from '../parsers/common';

/**
 * Line formats of `GET /v1/export`. NDJSON: one record (the stored document) per line, `\n`.
 * CSV: RFC 4180 (CRLF line ends, fields with `"`, `,`, CR or LF quoted, quotes doubled), one header
 * row, and cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
 * CR) prefixed with `'` (OWASP's CSV injection advice).
 */

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

export const CSV_COLUMNS = [
  '@timestamp',
  'record_id',
  'user.id',
  'verdict',
  'source.ip',
  'http.request.method',
  'url.path',
  'http.response.status_code',
  'event.outcome',
  'service.name',
  'trace.id',
  'sources',
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: formula-neutralized, then quoted when needed. */
export function csvCell(v: unknown): string {
  let s = v === undefined || v === null ? '' : Array.isArray(v) ? v.join(';') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The header row: our own constant names, written as they are (`@timestamp` is not user data). */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(r: AuditRecord): string {
  const cells: unknown[] = [
    r['@timestamp'],
    r.auditmesh.record_id,
    getPath(r, 'user.id'),
    r.auditmesh.identity?.verdict,
    getPath(r, 'source.ip'),
    getPath(r, 'http.request.method'),
    getPath(r, 'url.path'),
    getPath(r, 'http.response.status_code'),
    getPath(r, 'event.outcome'),
    getPath(r, 'service.name'),
    getPath(r, 'trace.id'),
    r.auditmesh.sources,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export function ndjsonLine(r: AuditRecord): string {
  return `${JSON.stringify(r)}\n`;
}
