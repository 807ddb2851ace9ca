import { canonicalIsoMs, isoMs } from './isoTime';

/** A deterministic pseudo-random source (tests must be repeatable). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return x / 2 ** 32;
  };
}

describe('model/isoTime', () => {
  it('reads every canonical time exactly as Date.parse does, and it round-trips through toISOString', () => {
    const r = rng(7);
    for (let i = 0; i < 50_000; i++) {
      // Years 0..9999 (toISOString's four-digit range), weighted towards now.
      const ms = i % 4 === 0 ? Math.floor(r() * 253_402_300_800_000) - 62_167_219_200_000 : 1_600_000_000_000 + Math.floor(r() * 400_000_000_000);
      const s = new Date(ms).toISOString();
      expect(canonicalIsoMs(s)).toBe(ms);
      expect(isoMs(s)).toBe(Date.parse(s));
    }
  });

  it('leaves the edges of the calendar to Date.parse, or reads them the same way', () => {
    const cases = [
      '2024-02-29T23:59:59.999Z', '2023-02-29T00:00:00.000Z', '2024-02-30T00:00:00.000Z', '2100-02-29T00:00:00.000Z', '2000-02-29T00:00:00.000Z',
      '2024-04-31T00:00:00.000Z', '2024-12-31T23:59:59.999Z', '2024-01-01T24:00:00.000Z', '2024-01-01T23:60:00.000Z', '2024-01-01T23:59:60.000Z',
      '2024-13-01T00:00:00.000Z', '2024-00-10T00:00:00.000Z', '2024-01-00T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '0050-03-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z', '+002024-01-01T00:00:00.000Z', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00.000+00:00',
      '2024-01-01 00:00:00.000Z', '2024-01-01T00:00:00.00aZ', '2024-1a-01T00:00:00.000Z', 'not a time at all, 24 chr', '', '2024-01-01',
    ];
    for (const s of cases) {
      const c = canonicalIsoMs(s);
      if (c !== undefined) expect([s, c, new Date(c).toISOString()]).toEqual([s, Date.parse(s), s]);
      expect([s, isoMs(s)]).toEqual([s, Date.parse(s)]);
    }
    // A missing field (a malformed stored document) reads as Date.parse reads it.
    expect(isoMs(undefined as unknown as string)).toBeNaN();
    // Dates that do not exist are not canonical (Date.parse rolls them over into the next month).
    expect(canonicalIsoMs('2023-02-29T00:00:00.000Z')).toBeUndefined();
    expect(canonicalIsoMs('2024-04-31T00:00:00.000Z')).toBeUndefined();
    expect(canonicalIsoMs('2100-02-29T00:00:00.000Z')).toBeUndefined();
    for (const s of ['2024-02-29T00:00:00.000Z', '2000-02-29T12:00:00.000Z', '1600-02-29T00:00:00.000Z', '2024-01-31T00:00:00.000Z', '2024-12-31T23:59:59.999Z', '0000-02-29T00:00:00.000Z']) {
      expect([s, canonicalIsoMs(s)]).toEqual([s, Date.parse(s)]);
    }
  });
});
