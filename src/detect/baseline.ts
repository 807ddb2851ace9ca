import { createHash } from 'node:crypto';

/**
 * Per-identity statistical baseline, learned from event time (record @timestamp), persisted in the
 * store and loaded on demand, so it survives a restart and a replay behaves like the live run.
 *
 * - `seen`: first-seen sets per dimension (`ip`, `net4/24|net6/64`, `country`), each with its own
 *   observation count `n` (a dimension added later by a new rule starts its own learning period).
 * - `hours`: hour-of-week histogram (UTC, Monday 00:00 = 0).
 * - `rate`: requests per hour, an EWMA of mean and variance over the identity's active hours.
 * - `recent`: hashes of the last records applied, so a redelivered or amended record (a new version
 *   of the same record) teaches the baseline once: updates are idempotent.
 *
 * Every collection is bounded (constants below); evictions drop the least recently seen entry.
 */
export interface SeenSet {
  /** Records observed in this dimension. */
  n: number;
  /** value → [first seen, last seen] (event time, ms). */
  values: Record<string, [number, number]>;
}

export interface RateState {
  /** Current hour (ms since epoch / 3 600 000). */
  bucket: number;
  count: number;
  /** EWMA of the count of completed active hours, and of its squared deviation. */
  mean: number;
  variance: number;
  /** Completed active hours folded into the EWMA. */
  buckets: number;
}

export interface IdentityBaseline {
  subject: string;
  /** Distinct records applied. */
  records: number;
  firstSeenMs: number;
  lastSeenMs: number;
  seen: Record<string, SeenSet>;
  hours: number[];
  rate: RateState;
  recent: string[];
}

export const MAX_SEEN_VALUES = 1_000;
export const MAX_RECENT = 512;
/** Weight of the newest hour in the rate EWMA (≈ the last 20 active hours dominate). */
export const RATE_ALPHA = 0.1;
const HOUR = 3_600_000;
const HOURS_PER_WEEK = 168;

/** Verified and unverified uses of a name learn separate baselines: an unverified claim must not teach the real identity's. */
export const baselineKey = (subject: string, verified: boolean) => `b:${verified ? 'v' : 'u'}:${subject}`;
export const recordHash = (recordId: string) => createHash('sha256').update(recordId).digest('hex').slice(0, 16);

export function newBaseline(subject: string): IdentityBaseline {
  return {
    subject,
    records: 0,
    firstSeenMs: 0,
    lastSeenMs: 0,
    seen: {},
    hours: new Array<number>(HOURS_PER_WEEK).fill(0),
    rate: { bucket: 0, count: 0, mean: 0, variance: 0, buckets: 0 },
    recent: [],
  };
}

/** Hour of week (UTC) of an event time: Monday 00:00-00:59 = 0 ... Sunday 23:00 = 167. */
export function hourOfWeek(t: number): number {
  const d = new Date(t);
  return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
}

/** True if the record was already applied to this baseline (redelivery or a new version). */
export function alreadyApplied(b: IdentityBaseline, recordId: string): boolean {
  return b.recent.includes(recordHash(recordId));
}

/** A dimension of first-seen values to learn: its name and the record's value in it (if any). */
export interface Dim {
  name: string;
  value: string | undefined;
}

/** Apply one record (event time `t`) to the baseline. Call once per record (see alreadyApplied). */
export function observe(b: IdentityBaseline, recordId: string, t: number, dims: Dim[]): void {
  b.recent.push(recordHash(recordId));
  if (b.recent.length > MAX_RECENT) b.recent.splice(0, b.recent.length - MAX_RECENT);
  b.records++;
  if (!b.firstSeenMs || t < b.firstSeenMs) b.firstSeenMs = t;
  if (t > b.lastSeenMs) b.lastSeenMs = t;
  for (const d of dims) {
    if (d.value === undefined) continue;
    const set = (b.seen[d.name] ??= { n: 0, values: {} });
    set.n++;
    const cur = set.values[d.value];
    if (cur) {
      cur[0] = Math.min(cur[0], t);
      cur[1] = Math.max(cur[1], t);
    } else {
      set.values[d.value] = [t, t];
      const keys = Object.keys(set.values);
      if (keys.length > MAX_SEEN_VALUES) {
        let oldest = keys[0]!;
        for (const k of keys) if (set.values[k]![1] < set.values[oldest]![1]) oldest = k;
        delete set.values[oldest];
      }
    }
  }
  b.hours[hourOfWeek(t)]! += 1;
  observeRate(b.rate, t);
}

/** Count a request into its hour; completed hours fold into the EWMA. Late records (an earlier hour) are not counted. */
export function observeRate(r: RateState, t: number): void {
  const bucket = Math.floor(t / HOUR);
  if (bucket === r.bucket) {
    r.count++;
    return;
  }
  if (bucket < r.bucket) return;
  if (r.count > 0) {
    if (r.buckets === 0) {
      r.mean = r.count;
      r.variance = 0;
    } else {
      const diff = r.count - r.mean;
      const incr = RATE_ALPHA * diff;
      r.mean += incr;
      r.variance = (1 - RATE_ALPHA) * (r.variance + diff * incr);
    }
    r.buckets++;
  }
  r.bucket = bucket;
  r.count = 1;
}

/** The count the record's hour will have once the record is counted (for the rate rule, before observe). */
export function prospectiveCount(r: RateState, t: number): number {
  const bucket = Math.floor(t / HOUR);
  if (bucket === r.bucket) return r.count + 1;
  return bucket < r.bucket ? 0 : 1;
}

/**
 * Smoothed probability that this identity is active at the hour of day of `t` (UTC), from the
 * hour-of-week histogram folded to 24 hours: neighbours within ±`smoothing` hours share evidence
 * (weights 1/(1+distance)), plus a small prior (0.1 per hour) so an unseen hour is unlikely, not impossible.
 */
export function hourProbability(b: IdentityBaseline, t: number, smoothing: number): number {
  const day = new Array<number>(24).fill(0);
  let total = 0;
  for (let h = 0; h < HOURS_PER_WEEK; h++) {
    day[h % 24]! += b.hours[h]!;
    total += b.hours[h]!;
  }
  const hod = new Date(t).getUTCHours();
  const prior = 0.1;
  let score = 0;
  let weights = 0;
  for (let d = -smoothing; d <= smoothing; d++) {
    const w = 1 / (1 + Math.abs(d));
    score += w * day[(hod + d + 24) % 24]!;
    weights += w;
  }
  return (score / weights + prior) / (total + 24 * prior);
}
