// Records seen by the search view, so a record without a trace id can be opened without another
// query (the API has no lookup by record id). Bounded: the last few pages only.
const MAX = 2000;
const records = new Map();

export function remember(list) {
  for (const r of list) {
    const id = r?.auditmesh?.record_id;
    if (!id) continue;
    records.delete(id);
    records.set(id, r);
  }
  while (records.size > MAX) records.delete(records.keys().next().value);
}

export function recall(id) {
  return records.get(id);
}
