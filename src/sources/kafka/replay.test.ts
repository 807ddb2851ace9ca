import { UsageError } from '../../errors';
import { computeRanges, type PartitionOffsets, type ReplayRequest } from './replay';

const offsets = new Map<string, PartitionOffsets[]>([
  ['mesh', [{ partition: 0, low: 0n, high: 100n }, { partition: 1, low: 40n, high: 90n }, { partition: 2, low: 0n, high: 0n }]],
  ['tyk', [{ partition: 0, low: 0n, high: 10n }]],
]);
const byOffsets = (offsets: ReplayRequest['from'] & { offsets: unknown }, extra: Partial<ReplayRequest> = {}): ReplayRequest => ({ from: offsets, topics: [], ...extra });
const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
};

describe('sources/kafka > replay plan', () => {
  it('reads from the given offsets to the end at start, only the named partitions', () => {
    const plan = computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: 0, offset: 25n }, { topic: 'tyk', partition: '*', offset: 'earliest' }] }), offsets);
    expect(plan.ranges).toEqual([
      { topic: 'mesh', partition: 0, start: 25n, end: 100n },
      { topic: 'tyk', partition: 0, start: 0n, end: 10n },
    ]);
    expect(plan.total).toBe(85);
    expect(plan.notes).toEqual([]);
  });

  it('starts at the first offset still in Kafka when the given one is gone, and says so', () => {
    const plan = computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: 1, offset: 10n }] }), offsets);
    expect(plan.ranges).toEqual([{ topic: 'mesh', partition: 1, start: 40n, end: 90n }]);
    expect(plan.notes).toEqual(['mesh:1: offsets 10..39 are no longer in Kafka (retention); starting at 40']);
  });

  it('rejects an offset beyond the end, a missing partition or topic, and a partition given twice', () => {
    expect(usage(() => computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: 0, offset: 101n }] }), offsets))).toBe(
      '--from-offset mesh:0:101: partition mesh:0 ends at offset 100 (the next offset to be written); give an offset of at most 100',
    );
    expect(usage(() => computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: 7, offset: 0n }] }), offsets))).toBe("--from-offset mesh:7:0: topic 'mesh' has no partition 7 (it has partitions 0..2)");
    expect(usage(() => computeRanges(byOffsets({ offsets: [{ topic: 'nope', partition: 0, offset: 0n }] }), offsets))).toBe("--from-offset: no topic 'nope' on the brokers");
    expect(usage(() => computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: '*', offset: 0n }, { topic: 'mesh', partition: 1, offset: 50n }] }), offsets))).toMatch(/partition mesh:1 is given twice/);
  });

  it('ends at --to-offset (exclusive, capped at the end) and at the first offset of --to-time, whichever comes first', () => {
    const req = byOffsets({ offsets: [{ topic: 'mesh', partition: '*', offset: 'earliest' }] }, { toOffsets: [{ topic: 'mesh', partition: 0, offset: 60n }, { topic: 'mesh', partition: 1, offset: 500n }], toTimeMs: 1 });
    const plan = computeRanges(req, offsets, { to: new Map([['mesh', new Map([[0, 80n], [1, 70n], [2, 0n]])]]) });
    expect(plan.ranges).toEqual([
      { topic: 'mesh', partition: 0, start: 0n, end: 60n },
      { topic: 'mesh', partition: 1, start: 40n, end: 70n },
      { topic: 'mesh', partition: 2, start: 0n, end: 0n },
    ]);
    expect(plan.notes).toEqual(["mesh:1: --to-offset 500 is beyond the partition's end; stopping at 90"]);
    expect(usage(() => computeRanges(byOffsets({ offsets: [{ topic: 'mesh', partition: 0, offset: 0n }] }, { toOffsets: [{ topic: 'tyk', partition: 0, offset: 5n }] }), offsets))).toMatch(/partition tyk:0 is not replayed/);
  });

  it('resolves a time range to offsets per partition, an empty range when the end comes before the start', () => {
    const req: ReplayRequest = { from: { timeMs: 1 }, topics: ['mesh'], toTimeMs: 2 };
    const plan = computeRanges(req, offsets, {
      from: new Map([['mesh', new Map([[0, 30n], [1, 90n], [2, 0n]])]]),
      to: new Map([['mesh', new Map([[0, 50n], [1, 90n], [2, 0n]])]]),
    });
    expect(plan.ranges).toEqual([
      { topic: 'mesh', partition: 0, start: 30n, end: 50n },
      { topic: 'mesh', partition: 1, start: 90n, end: 90n },
      { topic: 'mesh', partition: 2, start: 0n, end: 0n },
    ]);
    expect(plan.total).toBe(20);
  });
});
