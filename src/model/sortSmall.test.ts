import { byCodeUnits, sortSmall, uniqSorted } from './sortSmall';

/** A deterministic pseudo-random sequence (the same lists on every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}
const ALPHABET = ['a', 'b', 'B', 'ä', 'a1', '10', '9', 't:1', 'r:1', 'e:x', '', 'Z'];

describe('model/sortSmall', () => {
  it('orders like Array.prototype.sort, for short lists and long ones', () => {
    const rnd = lcg(42);
    for (let round = 0; round < 500; round++) {
      const n = Math.floor(rnd() * 40);
      const list = Array.from({ length: n }, () => ALPHABET[Math.floor(rnd() * ALPHABET.length)]!);
      expect(sortSmall(list.slice(), byCodeUnits)).toEqual(list.slice().sort());
    }
  });

  it('keeps equal elements in their input order (stable), as TimSort does', () => {
    const rnd = lcg(7);
    for (let round = 0; round < 200; round++) {
      const items = Array.from({ length: Math.floor(rnd() * 30) }, (_, i) => ({ key: Math.floor(rnd() * 4), i }));
      const cmp = (a: { key: number }, b: { key: number }) => a.key - b.key;
      expect(sortSmall(items.slice(), cmp)).toEqual(items.slice().sort(cmp));
    }
  });

  it('sorts in place and returns its argument', () => {
    const list = ['c', 'a', 'b'];
    expect(sortSmall(list, byCodeUnits)).toBe(list);
    expect(list).toEqual(['a', 'b', 'c']);
  });

  it('uniqSorted: the distinct strings in code-unit order, without changing its input', () => {
    const input = ['10.0.0.2', '10.0.0.1', '10.0.0.2', 'fd00::1', '10.0.0.1'];
    expect(uniqSorted(input)).toEqual(['10.0.0.1', '10.0.0.2', 'fd00::1']);
    expect(input).toEqual(['10.0.0.2', '10.0.0.1', '10.0.0.2', 'fd00::1', '10.0.0.1']);
    expect(uniqSorted([])).toEqual([]);
    const rnd = lcg(3);
    for (let round = 0; round < 200; round++) {
      const list = Array.from({ length: Math.floor(rnd() * 30) }, () => ALPHABET[Math.floor(rnd() * ALPHABET.length)]!);
      expect(uniqSorted(list)).toEqual([...new Set(list)].sort());
    }
  });
});
