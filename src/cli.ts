import fs from 'node:fs';
import { loadConfig } from './config/load';
import { ConfigError, PipelineError, UsageError } from './errors';
import { SOURCE_TYPES, type SourceType } from './model/events';
import { createRuntime } from './runtime';
import { readLines } from './sources/file/fileSource';
import { mintToken, ROLES, type Role } from './api/auth';
import { serve } from './main';
import { createLogger } from './instrumentation/logger';
import { Progress } from './cli/progress';
import { REPLAY_OPTIONS, replay } from './cli/replay';

const USAGE = `auditmesh — one verified audit trail from firewall, gateway, mesh and OpenTelemetry telemetry

Usage:
  auditmesh serve                                  run the service (Kafka when KAFKA_BROKERS is set,
                                                   Elasticsearch when ELASTICSEARCH_URL is set,
                                                   otherwise the embedded store in AUDITMESH_DATA_DIR)
  auditmesh ingest --type <envoy|tyk|panos|otlp> [--format F] <file...|->
                                                   parse, correlate and store line-delimited files
                                                   (this is also the replay/backfill from files)
  auditmesh replay --from-offset <topic>:<partition>:<offset>[,…] [--to-offset <t>:<p>:<offset>[,…]]
  auditmesh replay --from-time <ISO 8601> [--to-time <ISO 8601>] [--topics T[,T…]] [--type <type>]
                   (either form: [--to-time T] [--type <type> [--format F]] [--dry-run])
                                                   read Kafka again (backfill) up to the partitions'
                                                   end at start (or --to-*, exclusive) through parse,
                                                   correlate and store: idempotent, no duplicates; an
                                                   ephemeral consumer group, the pipelines' committed
                                                   offsets are untouched. Topics: pipelines/*.yaml
                                                   (--type: that parser's); others need --type
  auditmesh token --role <auditor|investigator|admin> [--subject NAME] [--ttl SECONDS]
                                                   mint an API token with the local signing key
  auditmesh verify [--jwks FILE|URL] [--checkpoints DIR] <export-file|ledger-export-dir>
                                                   check an export (records + ledger proofs) or a
                                                   checkpoint export directory offline; exit 1 if broken
  auditmesh help

Configuration: AUDITMESH_CONFIG (YAML file); environment variables override it (see README).`;

interface Parsed {
  cmd: string;
  flags: Map<string, string>;
  args: string[];
}

/** Options that take no value (`--dry-run`); every other option needs one. */
const BOOLEAN_OPTIONS = new Set(['dry-run']);

function parseArgs(argv: string[]): Parsed {
  const [cmd = 'help', ...rest] = argv;
  const flags = new Map<string, string>();
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '-') args.push(a);
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (BOOLEAN_OPTIONS.has(a.slice(2))) flags.set(a.slice(2), 'true');
      else {
        const v = rest[i + 1];
        if (v === undefined || (v.startsWith('--') && v !== '-')) throw new UsageError(`option ${a} needs a value`);
        flags.set(a.slice(2), v);
        i++;
      }
    } else args.push(a);
  }
  return { cmd, flags, args };
}

function only(p: Parsed, allowed: string[]): void {
  for (const k of p.flags.keys()) if (!allowed.includes(k)) throw new UsageError(`unknown option --${k} for '${p.cmd}'`);
}

async function ingest(p: Parsed): Promise<number> {
  only(p, ['type', 'format']);
  const type = p.flags.get('type');
  if (!type) throw new UsageError(`ingest needs --type (one of ${SOURCE_TYPES.join(', ')})`);
  if (!SOURCE_TYPES.includes(type as SourceType)) throw new UsageError(`unknown --type '${type}': use one of ${SOURCE_TYPES.join(', ')}`);
  if (p.args.length === 0) throw new UsageError('ingest needs at least one file (or - for stdin)');
  for (const f of p.args) {
    if (f !== '-' && !fs.existsSync(f)) throw new UsageError(`no such file: ${f}`);
    if (f !== '-' && fs.statSync(f).isDirectory()) throw new UsageError(`${f} is a directory; give files`);
  }
  const cfg = loadConfig();
  const log = createLogger(cfg.log.level, { service: 'auditmesh', command: 'ingest' });
  const rt = await createRuntime(cfg, { log });
  const fmt = p.flags.get('format');
  const parser = rt.parser(type as SourceType, fmt ? { format: fmt } : {});
  let lines = 0, events = 0, records = 0;
  const reasons = new Map<string, { count: number; first: string }>();
  const total = p.args.filter((f) => f !== '-').reduce((n, f) => n + fs.statSync(f).size, 0);
  // A bar on a terminal (stderr); the timing goes into the summary on stdout either way.
  const progress = new Progress({ label: `ingest ${type}`, total, unit: 'bytes', items: 'lines' });
  try {
    for await (const b of readLines(p.args, type as SourceType)) {
      // A few quick attempts: a store that does not take writes (disk full) ends the command with a
      // clear error instead of retrying forever.
      const r = await rt.runner.process(b.records, parser, { maxWriteAttempts: 3 });
      lines += r.received;
      events += r.events;
      records += r.records;
      for (const d of r.deadLetters) {
        const at = `${d.ref.file}:${d.ref.line}`;
        const cur = reasons.get(d.code);
        if (cur) cur.count++;
        else reasons.set(d.code, { count: 1, first: `${at}: ${d.reason}` });
      }
      progress.update(b.bytesRead, lines);
    }
  } catch (e) {
    if (e instanceof PipelineError && e.retriable) {
      throw new PipelineError(`${e.message}; ${lines} line(s) were stored before it: run the same command again once the store takes writes (nothing is stored twice)`, e.code, e.retriable, e.stage, { cause: e });
    }
    throw e;
  } finally {
    progress.clear();
    await rt.close();
  }
  const dead = [...reasons.values()].reduce((n, r) => n + r.count, 0);
  const out = [`ingested ${lines} line(s) of ${type} from ${p.args.length} file(s): ${lines - dead} accepted (${events} events, ${records} record writes), ${dead} dead-lettered, ${progress.timing()}`];
  for (const [code, r] of [...reasons].sort((a, b) => b[1].count - a[1].count)) out.push(`  dead-lettered ${code}: ${r.count} (first at ${r.first})`);
  out.push(`store: ${cfg.elasticsearch.url ? `elasticsearch ${cfg.elasticsearch.url}` : `embedded ${cfg.dataDir}`}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

async function token(p: Parsed): Promise<number> {
  only(p, ['role', 'subject', 'ttl']);
  const role = p.flags.get('role');
  if (!role || !ROLES.includes(role as Role)) throw new UsageError(`token needs --role (one of ${ROLES.join(', ')})`);
  const ttl = Number(p.flags.get('ttl') ?? 8 * 3600);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 30 * 86400) throw new UsageError('--ttl must be a whole number of seconds, at most 30 days');
  const cfg = loadConfig();
  if (cfg.api.auth) throw new UsageError(`the API trusts the issuer ${cfg.api.auth.issuer} (api.auth); get a token from it instead`);
  const tok = await mintToken(cfg.dataDir, { role: role as Role, subject: p.flags.get('subject') ?? `local-${role}`, ttlSeconds: ttl, audience: 'auditmesh' });
  process.stdout.write(tok + '\n');
  return 0;
}

/** `auditmesh verify`: offline, no config, no store (see src/ledger/offline.ts). */
async function verify(p: Parsed): Promise<number> {
  only(p, ['jwks', 'checkpoints']);
  if (p.args.length !== 1) throw new UsageError('verify needs one export file or ledger export directory');
  const target = p.args[0]!;
  if (!fs.existsSync(target)) throw new UsageError(`no such file or directory: ${target}`);
  const cp = p.flags.get('checkpoints');
  if (cp !== undefined && !fs.existsSync(cp)) throw new UsageError(`--checkpoints: no such directory: ${cp}`);
  const jwks = p.flags.get('jwks');
  const { verifyOffline } = await import('./ledger/offline');
  const res = await verifyOffline(target, { ...(jwks ? { jwks } : {}), ...(cp ? { checkpointsDir: cp } : {}) });
  process.stdout.write(res.lines.join('\n') + '\n');
  return res.ok ? 0 : 1;
}

/** `auditmesh replay` (src/cli/replay.ts): Ctrl-C / SIGTERM stop after the batch in flight and print where to resume. */
async function replayCmd(p: Parsed): Promise<number> {
  only(p, REPLAY_OPTIONS);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await replay(p.flags, p.args, { stdout: process.stdout, stderr: process.stderr, signal: ac.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    const p = parseArgs(argv);
    switch (p.cmd) {
      case 'ingest':
        return await ingest(p);
      case 'token':
        return await token(p);
      case 'verify':
        return await verify(p);
      case 'replay':
        return await replayCmd(p);
      case 'serve':
        only(p, []);
        return await serve(loadConfig());
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return 0;
      default:
        throw new UsageError(`unknown command '${p.cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`auditmesh: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`auditmesh: ${e.message}\n`);
      return 1;
    }
    if (e instanceof PipelineError) {
      process.stderr.write(`auditmesh: ${e.message} (${e.code})\n`);
      return 1;
    }
    process.stderr.write(`auditmesh: fatal: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
