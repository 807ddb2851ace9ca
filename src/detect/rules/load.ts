import fs from 'node:fs';
import path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { ConfigError } from '../../errors';
import { formatIssues, parseYaml, positionOf, type YamlSource } from '../yamlSource';
import { ruleSchema, type LoadedRule } from './schema';

/** Every problem of a rule directory, one `file:line:col: key: message` per line. */
export class RuleLoadError extends ConfigError {
  constructor(readonly problems: string[]) {
    super(`invalid alert rules:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export interface RuleSet {
  rules: LoadedRule[];
  /** Files read, sorted. */
  files: string[];
}

/** Rules of one file's text; problems name the file and line. */
export function parseRuleFile(file: string, text: string): { rules: LoadedRule[]; problems: string[] } {
  const parsed = parseYaml(file, text);
  if (!parsed.ok) return { rules: [], problems: [parsed.message] };
  const src = parsed.src;
  const top = src.doc.contents;
  if (top === null || top === undefined) return { rules: [], problems: [] }; // an empty file: no rules
  if (!isMap(top)) return { rules: [], problems: [`${file}:1:1: a rule file is one rule (a mapping with id, type, ...) or 'rules:' with a list of rules`] };
  const value = src.value as Record<string, unknown>;
  const items: { value: unknown; base: (string | number)[] }[] = [];
  if ('rules' in value) {
    const extra = Object.keys(value).filter((k) => k !== 'rules');
    if (extra.length) {
      const pos = positionOf(src, [], extra[0]);
      return { rules: [], problems: [`${file}:${pos.line}:${pos.col}: unknown top-level key(s) ${extra.map((k) => `'${k}'`).join(', ')} next to 'rules' (put them inside a rule)`] };
    }
    const list = src.doc.get('rules');
    if (!isSeq(list) && value.rules !== null) {
      const pos = positionOf(src, ['rules']);
      return { rules: [], problems: [`${file}:${pos.line}:${pos.col}: rules: must be a list of rules ('- id: ...')`] };
    }
    ((value.rules as unknown[] | null) ?? []).forEach((v, i) => items.push({ value: v, base: ['rules', i] }));
  } else {
    items.push({ value, base: [] });
  }
  const rules: LoadedRule[] = [];
  const problems: string[] = [];
  for (const it of items) {
    const id = it.value && typeof it.value === 'object' ? (it.value as Record<string, unknown>).id : undefined;
    const res = ruleSchema.safeParse(it.value);
    if (!res.success) {
      problems.push(...formatIssues(src, res.error, it.base, typeof id === 'string' ? `rule '${id}'` : it.base.length ? `rules[${it.base[1]}]` : 'rule'));
      continue;
    }
    const pos = positionOf(src, it.base);
    rules.push({ ...res.data, file, line: pos.line, col: pos.col });
  }
  return { rules, problems };
}

/** Rule files of a directory: `*.yaml` / `*.yml`, not recursive, sorted by name. */
export function ruleFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && /\.ya?ml$/.test(d.name) && !d.name.startsWith('.'))
    .map((d) => path.join(dir, d.name))
    .sort();
}

/**
 * Load and validate every rule file of `dir`. Throws RuleLoadError listing every problem of every
 * file (syntax, schema, duplicate ids), each with its file and line.
 */
export function loadRules(dir: string): RuleSet {
  let files: string[];
  try {
    files = ruleFiles(dir);
  } catch (e) {
    throw new RuleLoadError([`detect.rulesDir: cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const problems: string[] = [];
  const rules: LoadedRule[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (e) {
      problems.push(`${f}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const r = parseRuleFile(f, text);
    problems.push(...r.problems);
    rules.push(...r.rules);
  }
  const seen = new Map<string, LoadedRule>();
  for (const r of rules) {
    const prev = seen.get(r.id);
    if (prev) problems.push(`${r.file}:${r.line}:${r.col}: rule '${r.id}': id is already used by the rule at ${prev.file}:${prev.line} (ids must be unique across rule files)`);
    else seen.set(r.id, r);
  }
  if (problems.length) throw new RuleLoadError(problems);
  return { rules, files };
}

export type { YamlSource };
