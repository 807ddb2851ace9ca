/**
 * Event-time progress of the stream, as stream processors define it: the watermark is the smallest,
 * over the active streams (Kafka topic partitions, see `streamOf`), of the latest event time seen on
 * that stream, minus the allowed lateness. One lagging partition therefore holds the watermark back
 * instead of making its own events "late"; a stream that has sent nothing for `idleMs` of wall-clock
 * time stops holding it back.
 *
 * An event dated more than `maxAheadMs` ahead of the wall clock (a device clock or time zone that is
 * wrong, a forged record) must not be observed: one record dated in the year 2399 on every partition
 * would otherwise move the watermark centuries ahead and every on-time event after it would be "too
 * late". The runner dead-letters such events (`isTooEarly`) instead.
 *
 * Used only for streaming (`auditmesh serve`): file backfills (`auditmesh ingest`) replay history in
 * any order and rely on the store-backed correlation state alone.
 */
export class Watermark {
  private readonly maxBySource = new Map<string, { eventMs: number; seenAtMs: number }>();

  constructor(
    /** How far behind the watermark frontier an event may be and still amend its record. */
    readonly latenessMs: number,
    /** Wall-clock time after which a silent source no longer holds the watermark back. */
    readonly idleMs: number = 60_000,
    private readonly now: () => number = Date.now,
    /** How far ahead of the wall clock an event may be dated (ms); Infinity = no limit. */
    readonly maxAheadMs: number = Infinity,
  ) {}

  /** True when the event claims a time more than `maxAheadMs` ahead of the wall clock (never observed). */
  isTooEarly(eventMs: number): boolean {
    return Number.isFinite(eventMs) && eventMs > this.now() + this.maxAheadMs;
  }

  /**
   * Register a stream that is going to deliver events (a Kafka partition this service consumes).
   * Until it has delivered one, or has been silent for `idleMs`, it holds the watermark back: after a
   * restart the consumer groups join one by one, and the partitions read first must not make another
   * partition's backlog "too late".
   */
  expect(stream: string): void {
    const cur = this.maxBySource.get(stream);
    if (!cur) this.maxBySource.set(stream, { eventMs: -Infinity, seenAtMs: this.now() });
    else if (cur.eventMs === -Infinity) cur.seenAtMs = this.now();
  }

  observe(source: string, eventMs: number): void {
    if (!Number.isFinite(eventMs)) return;
    const cur = this.maxBySource.get(source);
    const seenAtMs = this.now();
    if (!cur || eventMs > cur.eventMs) this.maxBySource.set(source, { eventMs, seenAtMs });
    else cur.seenAtMs = seenAtMs;
  }

  /** Current watermark (ms since epoch), or -Infinity before any event. */
  value(): number {
    const now = this.now();
    let min = Infinity;
    for (const v of this.maxBySource.values()) if (now - v.seenAtMs <= this.idleMs && v.eventMs < min) min = v.eventMs;
    return min === Infinity ? -Infinity : min - this.latenessMs;
  }

  /** True when the event is older than the latest event already seen from its source (out of order). */
  isLate(source: string, eventMs: number): boolean {
    const cur = this.maxBySource.get(source);
    return cur !== undefined && eventMs < cur.eventMs;
  }

  /** True when an event of this time arrives after its window closed (older than the watermark). */
  isTooLate(eventMs: number): boolean {
    return Number.isFinite(eventMs) && eventMs < this.value();
  }
}

/**
 * The stream an event arrived on, as the watermark tracks it: its Kafka topic partition (each is
 * ordered on its own and consumed at its own pace), or its source type when it did not come from Kafka.
 */
export function streamOf(ref: { source: string; topic?: string | undefined; partition?: number | undefined }): string {
  return ref.topic === undefined ? ref.source : `${ref.source}:${ref.topic}:${ref.partition ?? 0}`;
}

/**
 * Records whose event time is within the lateness window ("open windows"): a bounded, insertion-
 * ordered set with an eviction counter. The store holds every record; this only measures how many
 * are still expected to change, so memory stays bounded whatever the traffic.
 */
export class OpenRecords {
  private readonly ends = new Map<string, number>();
  evicted = 0;

  constructor(readonly max: number) {}

  touch(recordId: string, endMs: number): void {
    this.ends.delete(recordId);
    this.ends.set(recordId, endMs);
    while (this.ends.size > this.max) {
      this.ends.delete(this.ends.keys().next().value!);
      this.evicted++;
    }
  }

  /** Drop records whose window closed; returns how many remain open. */
  prune(watermarkMs: number): number {
    for (const [id, end] of this.ends) if (end < watermarkMs) this.ends.delete(id);
    return this.ends.size;
  }

  get size(): number {
    return this.ends.size;
  }
}
