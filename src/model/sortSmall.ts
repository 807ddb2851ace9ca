/**
 * `a.sort(cmp)` (in place, stable, same order) for the short lists of the correlation hot path: a
 * record's field groups, sources, keys, related values and claims.
 *
 * V8's `Array.prototype.sort` copies its input into a work array and sets up a TimSort state on
 * every call, even for three elements: the sampling heap profiler put ~2 KB per record on those
 * sorts. Insertion sort allocates nothing and, like TimSort, keeps equal elements in input order.
 */
export function sortSmall<T>(a: T[], cmp: (x: T, y: T) => number): T[] {
  const n = a.length;
  if (n > 24) return a.sort(cmp);
  for (let i = 1; i < n; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && cmp(a[j]!, x) > 0) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
  return a;
}

/** Strings in code-unit order (the order of `Array.prototype.sort` without a comparator). */
export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The distinct strings of a list, in code-unit order (a new array; the input is not changed). */
export function uniqSorted(a: readonly string[]): string[] {
  const out = a.slice();
  sortSmall(out, byCodeUnits);
  let w = 0;
  for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[w - 1]) out[w++] = out[i]!;
  out.length = w;
  return out;
}
