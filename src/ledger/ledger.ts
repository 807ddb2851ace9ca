import path from 'node:path';
import { metrics as otelMetrics } from '@opentelemetry/api';
import type * as jose from 'jose';
import type { Config } from '../config/schema';
import type { AuditStore } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import type { Metrics } from '../instrumentation/metrics';
import { ConfigError } from '../errors';
import type { SqliteStore } from '../store/sqlite/sqliteStore';
import type { ElasticsearchStore } from '../store/elasticsearch/elasticsearchStore';
import type { LedgerBackend } from './backend';
import type { ChainPolicy } from './chain';
import { buildEvidence, type EvidenceOptions, type EvidenceRef, type LedgerEvidence } from './evidence';
import { CheckpointExporter, readExportedCheckpoints } from './exporter';
import { ledgerSigner, type LedgerSigner } from './signing';
import { type VerifyRange, type VerifyResult, verifyLedger } from './verify';

/**
 * The tamper-evident audit trail of one store: the store-specific backend (SQLite transaction hook
 * or Elasticsearch bulk extension), the checkpoint signer, the exporter (file / Kafka) and a timer
 * that seals checkpoints by age and copies them out. Build it with `attachLedger` right after the
 * store's init() and before its first write.
 */
export class Ledger {
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    entries: otelMetrics.getMeter('auditmesh').createObservableCounter('auditmesh_ledger_entries_total', { description: 'Ledger entries appended by this process' }),
    checkpoints: otelMetrics.getMeter('auditmesh').createObservableCounter('auditmesh_ledger_checkpoints_total', { description: 'Ledger checkpoints signed by this process' }),
  };

  constructor(
    readonly backend: LedgerBackend & { appended: number; sealed: number },
    readonly signer: LedgerSigner,
    private readonly store: AuditStore,
    private readonly exporter: CheckpointExporter,
    private readonly policy: ChainPolicy,
    private readonly log: Logger,
    private readonly metrics: Metrics | undefined,
    private readonly exportDir: string | undefined,
    /** Elasticsearch retention in days (records of expired days are gone on purpose); 0 = none. */
    private readonly retentionDays = 0,
  ) {
    this.counters.entries.addCallback((r) => r.observe(this.backend.appended, { store: backend.kind }));
    this.counters.checkpoints.addCallback((r) => r.observe(this.backend.sealed, { store: backend.kind }));
  }

  /** Start the timer: seal by age, copy checkpoints out. */
  start(): void {
    const everyMs = this.policy.checkpointEverySeconds > 0 ? Math.min(10_000, Math.max(250, (this.policy.checkpointEverySeconds * 1000) / 4)) : 10_000;
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
  }

  /** One timer round (also used by tests): seal when due, export. Errors are counted and logged. */
  async tick(): Promise<void> {
    try {
      await this.backend.tick();
      await this.exportNow();
    } catch (e) {
      this.metrics?.errors.add(1, { component_id: 'ledger', error_code: (e as { code?: string }).code ?? 'ledger_tick_failed', stage: 'sink' });
      this.log.error('ledger: sealing or exporting checkpoints failed; retried on the next tick', { error: (e as Error).message });
    }
  }

  /** Copy checkpoints not exported yet. */
  async exportNow(): Promise<void> {
    if (!this.exporter.enabled || (await this.backend.sealedSeq()) <= this.exporter.position) return;
    await this.exporter.sync(async (after) => {
      await this.backend.refresh();
      return this.backend.checkpoints(after + 1, Number.POSITIVE_INFINITY, 10_000);
    });
  }

  /** Public keys of the checkpoint signatures (JWKS). */
  keys(): jose.JSONWebKeySet {
    return this.signer.jwks();
  }

  /** Seal every unsealed entry now and export. */
  async checkpointNow(): Promise<void> {
    await this.backend.checkpointNow();
    await this.exportNow();
  }

  /** Verify the stored ledger (range by seq or time); see verify.ts. */
  async verify(range: VerifyRange = {}): Promise<VerifyResult> {
    const exported = this.exportDir ? readExportedCheckpoints(this.exportDir).checkpoints : undefined;
    return verifyLedger(this.backend, this.store, this.keys(), range, { ...(exported ? { exported } : {}), retentionDays: this.retentionDays });
  }

  /** Inclusion proofs for records (as exported), sealing unsealed entries first; see evidence.ts. */
  async evidenceFor(refs: EvidenceRef[], opts: EvidenceOptions = {}): Promise<LedgerEvidence> {
    const ev = await buildEvidence(
      { reader: this.backend, keys: () => this.keys(), checkpointNow: () => this.checkpointNow(), sealedSeq: () => this.backend.sealedSeq() },
      refs,
      opts,
    );
    return ev;
  }

  /** Stop the timer, seal what is unsealed, export, disconnect. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      try {
        await this.backend.checkpointNow();
        await this.exportNow();
      } catch (e) {
        this.log.error('ledger: final checkpoint or export failed at stop; the next start seals and exports it', { error: (e as Error).message });
      }
      await this.exporter.close();
      ledgers.delete(this.store);
    })();
    return this.closing;
  }
}

const ledgers = new WeakMap<AuditStore, Ledger>();

/** The ledger attached to a store, if any (route modules and exports find it through the store). */
export function ledgerOf(store: AuditStore): Ledger | undefined {
  return ledgers.get(store);
}

/**
 * Evidence for exported records (`GET /v1/export`): the checkpoints covering them and one inclusion
 * proof per record; undefined when the store has no ledger. Pass the records as exported (they are
 * hashed as given), or `{ record_id, version? }` to prove the latest (or that) ledgered version.
 */
export async function ledgerEvidenceFor(store: AuditStore, refs: EvidenceRef[], opts: EvidenceOptions = {}): Promise<LedgerEvidence | undefined> {
  return ledgers.get(store)?.evidenceFor(refs, opts);
}

export interface AttachOptions {
  log: Logger;
  metrics?: Metrics;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/**
 * Build the store's ledger from `cfg.ledger` and hook it into the store's writes. Call after
 * `store.init()` and before any write. Undefined when `ledger.enabled` is false.
 */
export async function attachLedger(cfg: Config, store: AuditStore, opts: AttachOptions): Promise<Ledger | undefined> {
  const lc = cfg.ledger;
  if (!lc.enabled) return undefined;
  if (lc.kafkaTopic && !cfg.kafka.brokers.length) {
    throw new ConfigError(`ledger.kafkaTopic: set kafka.brokers (KAFKA_BROKERS) to produce checkpoints to ${lc.kafkaTopic}, or remove ledger.kafkaTopic`);
  }
  const log = opts.log.child({ component: 'ledger' });
  const signer = await ledgerSigner(cfg.dataDir);
  const policy: ChainPolicy = { checkpointEveryEntries: lc.checkpointEveryEntries, checkpointEverySeconds: lc.checkpointEverySeconds };
  const now = opts.now ?? Date.now;
  let backend: Ledger['backend'];
  if (store.kind === 'sqlite') {
    const s = store as SqliteStore;
    const { SqliteLedger } = await import('./sqliteLedger');
    const b = new SqliteLedger(s.database, signer, policy, now);
    await b.init();
    s.addTransactionHook(b.hook, { before: true }); // before the record rows: it keeps the version they replace
    s.setRecordSerializer(b.serializeRecord); // the canonical JSON the hook made: serialized once
    s.addTransactionHook(b.release); // after the rows: the batch's documents are not needed any more
    backend = b;
  } else {
    const s = store as ElasticsearchStore;
    const { ElasticsearchLedger } = await import('./elasticsearchLedger');
    const b = new ElasticsearchLedger(s.esClient, s.prefix, s, signer, policy, log, now);
    await b.init();
    s.addWriteExtension(b.extension, b.settled);
    backend = b;
  }
  let kafka: ConstructorParameters<typeof CheckpointExporter>[0]['kafka'];
  if (lc.kafkaTopic) {
    const { Kafka, logLevel } = await import('kafkajs');
    const producer = new Kafka({ clientId: `${cfg.kafka.clientId}-ledger`, brokers: cfg.kafka.brokers, logLevel: logLevel.ERROR }).producer({ allowAutoTopicCreation: true });
    kafka = { producer, topic: lc.kafkaTopic, stateFile: path.join(cfg.dataDir, 'ledger-kafka-export.json') };
  }
  const exporter = new CheckpointExporter({ ...(lc.exportDir ? { dir: lc.exportDir } : {}), ...(kafka ? { kafka } : {}), log });
  await exporter.init(signer.jwks());
  const retentionDays = store.kind === 'elasticsearch' ? cfg.elasticsearch.retentionDays : 0;
  const ledger = new Ledger(backend, signer, store, exporter, policy, log, opts.metrics, lc.exportDir, retentionDays);
  ledgers.set(store, ledger);
  ledger.start();
  log.info('ledger attached', {
    store: store.kind,
    kid: signer.kid,
    checkpoint_every_entries: policy.checkpointEveryEntries,
    checkpoint_every_seconds: policy.checkpointEverySeconds,
    export_dir: lc.exportDir ?? null,
    kafka_topic: lc.kafkaTopic ?? null,
  });
  // Checkpoints sealed before a crash but not exported yet go out now.
  await ledger.exportNow();
  return ledger;
}
