import type { ClaimMethod, ClaimStrength, DeadLetter, Ecs, IdentityClaim, JoinKeys, SourceRef, SourceType, Verdict } from './events';
import type { IdentityActivityAggregates, IdentityActivityQuery, ReportAggregates, ReportQuery } from './analytics';

/** A source event as stored: the parsed event without transient fields (tokens never stored). */
export interface StoredEvent {
  id: string;
  source: SourceType;
  kind: string;
  timestamp: string;
  ecs: Ecs;
  join: JoinKeys;
  claims: IdentityClaim[];
  ref: SourceRef;
  /** Record this event belongs to. */
  recordId: string;
}

/** Evidence: one member of a unified record, pointing back to its source event. */
export interface MemberRef {
  event_id: string;
  source: SourceType;
  kind: string;
  timestamp: string;
  /** Kafka topic/partition/offset or file/line. */
  ref: SourceRef;
  /** Which key joined it to the record (`trace.id`, `http.request.id`, `address+time`, `self`). */
  joined_by: string;
}

export interface RecordIdentity {
  /** The strongest identity we stand behind, or absent when no layer named anyone. */
  subject?: string;
  method?: ClaimMethod;
  strength?: ClaimStrength;
  verdict: Verdict;
  /** True when the chosen identity was cryptographically verified by auditmesh or an mTLS/jwt_authn layer. */
  verified: boolean;
  issuer?: string;
  /** Every layer's claim with its provenance. */
  claims: IdentityClaim[];
  /** Layers that name different principals for the same request. */
  mismatch: boolean;
  mismatches?: { a: string; b: string; methods: [ClaimMethod, ClaimMethod] }[];
}

/**
 * The unified audit record: ECS fields at the top level (who/what/where/when/outcome), and
 * `auditmesh.*` for identity, evidence and correlation metadata.
 */
export interface AuditRecord extends Ecs {
  '@timestamp': string;
  auditmesh: {
    record_id: string;
    /**
     * `request`: HTTP request across layers; `session`: a firewall session without a request;
     * `api`: a query of auditmesh's own API (the audit trail of the audit trail, see api/apiAudit.ts),
     * excluded from searches unless asked for and from reports.
     */
    record_type: RecordType;
    sources: SourceType[];
    members: MemberRef[];
    member_count: number;
    /** Correlation keys the record is reachable by (`t:<traceid>`, `r:<x-request-id>`, ...). */
    keys: string[];
    identity: RecordIdentity;
    /** Service chain from the span tree (root first). */
    services?: string[];
    partial?: boolean;
    /** Joins that were not made because several candidates matched (never guessed). */
    ambiguous?: { event_id: string; key: string; candidates: number }[];
    version: number;
    updated_at: string;
    /** `api` records only: what the API call was (and, for exports, the export manifest). */
    api?: ApiCallInfo;
  };
}

export type RecordType = 'request' | 'session' | 'event' | 'api';

/** Details of an `api` record beyond its ECS fields. */
export interface ApiCallInfo {
  /** Same as event.action, e.g. `records-search`, `export`. */
  action: string;
  /** Export manifest (`GET /v1/export`), when the call was an export. */
  export?: Record<string, unknown>;
}

/** Filters of the record search API; every field is validated before it reaches a store. */
export interface RecordQuery {
  from?: string;
  to?: string;
  traceId?: string;
  userId?: string;
  sourceIp?: string;
  verdict?: Verdict;
  service?: string;
  method?: string;
  status?: number;
  outcome?: 'success' | 'failure' | 'unknown';
  source?: SourceType;
  /** Absent: every type except `api`. */
  recordType?: RecordType;
  /** Exact rule.name (the firewall/mesh policy rule that matched). */
  ruleName?: string;
  /** Exact PAN-OS action of the firewall member (`panw.panos.action`: allow, deny, drop, reset-both, ...). */
  firewallAction?: string;
  /** Exact url.path. */
  path?: string;
  /** Case-sensitive string prefix of url.path. */
  pathPrefix?: string;
  /** auditmesh.identity.mismatch: layers named different principals (true) or not (false). */
  mismatch?: boolean;
  /** Free text, matched against url.path and user_agent.original (tokens, not query syntax). */
  text?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface RecordPage {
  records: AuditRecord[];
  /** Present when there may be more. */
  nextCursor?: string;
}

/** One atomic unit of work for a store: everything a batch of input produced. */
export interface WriteBatch {
  events: StoredEvent[];
  records: AuditRecord[];
  /** Correlation key → record id. */
  keys: [string, string][];
  /** Records merged into another record (removed). */
  deletedRecords: string[];
  deadLetters: DeadLetter[];
}

export interface DeadLetterQuery {
  limit: number;
  cursor?: string;
}

/** The audit store: correlation state, records, evidence and dead letters. Two engines implement it. */
/** See `AuditStore.findRecordsByIps`. */
export interface RecordsByIpsQuery {
  ips: string[];
  from: string;
  to: string;
  recordType: 'request' | 'session';
  limit: number;
  /**
   * Only records every correlation key of which is an event's own (`e:`): no trace, request or
   * firewall-session key (a trace-less gateway record waiting for the mesh's trace).
   */
  selfKeyedOnly?: boolean;
  /**
   * Only records that end at or after this time: their `event.end` or their latest member's
   * timestamp, whichever is later (a firewall session that can still hold a request of that time).
   */
  endFrom?: string;
}

/** True when every correlation key of `r` is an event's own (`e:`), see RecordsByIpsQuery. */
export function isSelfKeyed(r: AuditRecord): boolean {
  return r.auditmesh.keys.every((k) => k.startsWith('e:'));
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'elasticsearch';
  init(): Promise<void>;
  close(): Promise<void>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  /** Correlation state: which record each key points to. */
  lookupKeys(keys: string[]): Promise<Map<string, string>>;
  getRecords(ids: string[]): Promise<Map<string, AuditRecord>>;
  getEvents(ids: string[]): Promise<Map<string, StoredEvent>>;
  /** Durably apply a batch (idempotent: replaying it changes nothing). Resolves when acknowledged. */
  write(batch: WriteBatch): Promise<void>;
  searchRecords(q: RecordQuery): Promise<RecordPage>;
  /**
   * Correlation support: records of one type whose `source.ip` is any of `ips`, with @timestamp in
   * [from, to). At most `limit` records, any order. Must see writes acknowledged earlier (no refresh lag).
   */
  findRecordsByIps(q: RecordsByIpsQuery): Promise<AuditRecord[]>;
  /** Records and source events of one trace, events in time order. */
  getTrace(traceId: string): Promise<{ records: AuditRecord[]; events: StoredEvent[] }>;
  listDeadLetters(q: DeadLetterQuery): Promise<{ deadLetters: DeadLetter[]; nextCursor?: string }>;
  /** Aggregates of one identity's records in [from, to) (`api` records excluded). See model/analytics.ts. */
  identityActivity(q: IdentityActivityQuery): Promise<IdentityActivityAggregates>;
  /** Records matching a predicate in [from, to) grouped by user.id (`api` records excluded). */
  reportByIdentity(q: ReportQuery): Promise<ReportAggregates>;
  /** Make writes visible to search (Elasticsearch refresh); a no-op for the embedded store. */
  refresh(): Promise<void>;
}
