import fs from 'node:fs';
import path from 'node:path';

/**
 * Composable index templates of the Elasticsearch store, kept as JSON in `pipelines/elasticsearch/`
 * so operators can read and diff them. `{{prefix}}` in any string is replaced by the index prefix.
 */
export const TEMPLATE_FILES = {
  records: 'records-template.json',
  events: 'events-template.json',
  keys: 'keys-template.json',
  'dead-letters': 'dead-letters-template.json',
} as const;

export type TemplateKind = keyof typeof TEMPLATE_FILES;

/** `pipelines/elasticsearch` of the repository; the same relative path from `src/` and from `dist/`. */
export const DEFAULT_TEMPLATES_DIR = path.resolve(__dirname, '../../../pipelines/elasticsearch');

export interface IndexTemplate {
  /** Template name: `<prefix>-<kind>`. */
  name: string;
  /** Request body of `PUT _index_template/<name>`. */
  body: Record<string, unknown> & { index_patterns: string[]; version?: number };
}

function substitute(v: unknown, prefix: string): unknown {
  if (typeof v === 'string') return v.split('{{prefix}}').join(prefix);
  if (Array.isArray(v)) return v.map((x) => substitute(x, prefix));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, prefix)]));
  return v;
}

export function loadTemplates(prefix: string, dir: string = DEFAULT_TEMPLATES_DIR): IndexTemplate[] {
  return (Object.keys(TEMPLATE_FILES) as TemplateKind[]).map((kind) => {
    const file = path.join(dir, TEMPLATE_FILES[kind]);
    let raw: string;
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`elasticsearch store: cannot read index template ${file}: ${(e as Error).message}`, { cause: e });
    }
    const body = substitute(JSON.parse(raw), prefix) as IndexTemplate['body'];
    if (!Array.isArray(body.index_patterns) || body.index_patterns.some((p) => !p.startsWith(`${prefix}-`))) {
      throw new Error(`elasticsearch store: ${file}: index_patterns must all start with "{{prefix}}-"`);
    }
    return { name: `${prefix}-${kind}`, body };
  });
}
