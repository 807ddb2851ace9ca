/**
 * Sliding count window over event time, per rule and key (threshold rules). Entries are distinct
 * records: a redelivered record or a new version of one is counted once. Bounded: entries older than
 * the window behind the newest entry are pruned, and at most `max` entries are kept (oldest dropped).
 */
export interface WindowState {
  /** [event time ms, record id], sorted by time. */
  entries: [number, string][];
}

export const windowKey = (ruleId: string, groupKey: string) => `w:${ruleId}|${groupKey}`;

export function newWindow(): WindowState {
  return { entries: [] };
}

/**
 * Add a record at `t` (idempotent) and return the distinct records within [t - windowMs, t], oldest
 * first. `changed` says whether the state moved (something to persist).
 */
export function addToWindow(w: WindowState, t: number, recordId: string, windowMs: number, max: number): { inWindow: [number, string][]; changed: boolean } {
  let changed = false;
  if (!w.entries.some((e) => e[1] === recordId)) {
    let i = w.entries.length;
    while (i > 0 && w.entries[i - 1]![0] > t) i--;
    w.entries.splice(i, 0, [t, recordId]);
    changed = true;
  }
  const newest = w.entries[w.entries.length - 1]![0];
  const before = w.entries.length;
  let drop = 0;
  while (drop < w.entries.length && w.entries[drop]![0] < newest - windowMs) drop++;
  if (w.entries.length - drop > max) drop = w.entries.length - max;
  if (drop) w.entries.splice(0, drop);
  if (w.entries.length !== before) changed = true;
  return { inWindow: w.entries.filter((e) => e[0] >= t - windowMs && e[0] <= t), changed };
}
