/**
 * The Kibana saved objects in dashboards/ against the records index template: every field a data
 * view, saved search, Lens visualization or dashboard uses must be mapped, with a type that the use
 * needs (aggregations need keyword/ip/date/numeric/boolean, a date histogram a date), and every
 * reference must resolve. Kibana itself is not started: this is the part that breaks silently when
 * the template changes.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const DIR = path.join(ROOT, 'dashboards');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require(path.join(DIR, 'generate.cjs')) as { render(): string; OUT: string };

interface SavedObject {
  id: string;
  type: string;
  attributes: Record<string, any>;
  references: { id: string; name: string; type: string }[];
  coreMigrationVersion?: string;
  typeMigrationVersion?: string;
}

/** field path → mapping type, from the template's properties (multi-fields as `field.sub`). */
function mappedFields(template: any): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (props: Record<string, any>, prefix: string) => {
    for (const [k, v] of Object.entries(props)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (v.properties) walk(v.properties, name);
      if (v.type) out.set(name, v.type);
      else if (v.properties && !out.has(name)) out.set(name, 'object');
      if (v.enabled === false) out.set(name, 'disabled');
      for (const [sub, sv] of Object.entries((v.fields ?? {}) as Record<string, any>)) out.set(`${name}.${sub}`, sv.type);
    }
  };
  walk(template.template.mappings.properties, '');
  return out;
}

const AGGREGATABLE = new Set(['keyword', 'constant_keyword', 'ip', 'date', 'date_nanos', 'long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long', 'boolean']);
const NUMERIC_OR_DATE = new Set(['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long', 'date', 'date_nanos']);
const SEARCHABLE = new Set([...AGGREGATABLE, 'text', 'match_only_text', 'wildcard']);

/** Field names of a KQL query (`a.b : value`, `a.b >= 3`, `not a : b`); values and operators skipped. */
function kqlFields(query: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s(])([A-Za-z@_][\w.@]*)\s*(?::|<=|>=|<|>)/g;
  for (let m = re.exec(query); m; m = re.exec(query)) if (!['and', 'or', 'not'].includes(m[1]!.toLowerCase())) out.push(m[1]!);
  return out;
}

interface Use {
  object: string;
  field: string;
  need: 'aggregatable' | 'numeric_or_date' | 'date' | 'searchable';
}

function uses(o: SavedObject): Use[] {
  const at = `${o.type}/${o.id}`;
  const list: Use[] = [];
  const add = (field: string, need: Use['need']) => list.push({ object: at, field, need });
  const queryOf = (json: string | undefined) => {
    if (!json) return;
    const src = JSON.parse(json) as { query?: { query?: string }; filter?: unknown[] };
    for (const f of kqlFields(src.query?.query ?? '')) add(f, 'searchable');
  };
  switch (o.type) {
    case 'index-pattern':
      add(o.attributes.timeFieldName, 'date');
      break;
    case 'search':
      for (const c of o.attributes.columns ?? []) add(c, 'searchable');
      for (const [f] of o.attributes.sort ?? []) add(f, 'aggregatable');
      queryOf(o.attributes.kibanaSavedObjectMeta?.searchSourceJSON);
      break;
    case 'lens': {
      const state = o.attributes.state;
      for (const f of kqlFields(state.query?.query ?? '')) add(f, 'searchable');
      for (const layer of Object.values(state.datasourceStates.formBased.layers) as any[]) {
        for (const c of Object.values(layer.columns) as any[]) {
          if (c.filter?.query) for (const f of kqlFields(c.filter.query)) add(f, 'searchable');
          if (c.operationType === 'count' && c.sourceField === '___records___') continue;
          if (c.operationType === 'date_histogram') add(c.sourceField, 'date');
          else if (['sum', 'average', 'median', 'percentile', 'standard_deviation'].includes(c.operationType)) add(c.sourceField, 'numeric_or_date');
          else if (['min', 'max'].includes(c.operationType)) add(c.sourceField, 'numeric_or_date');
          else add(c.sourceField, 'aggregatable');
        }
      }
      break;
    }
    case 'dashboard':
      queryOf(o.attributes.kibanaSavedObjectMeta?.searchSourceJSON);
      break;
  }
  return list;
}

describe('dashboards > Kibana saved objects against the records index template', () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.ndjson'));
  const objects: SavedObject[] = files.flatMap((f) =>
    fs
      .readFileSync(path.join(DIR, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as SavedObject),
  );
  const template = JSON.parse(fs.readFileSync(path.join(ROOT, 'pipelines/elasticsearch/records-template.json'), 'utf8'));
  const fields = mappedFields(template);
  const byKey = new Map(objects.map((o) => [`${o.type}/${o.id}`, o]));

  it('is generated from dashboards/generate.cjs and up to date (run `node dashboards/generate.cjs`)', () => {
    expect(files).toContain(path.basename(generator.OUT));
    expect(fs.readFileSync(generator.OUT, 'utf8')).toBe(generator.render());
  });

  it('parses every line as a saved object with a unique id and Kibana 8.x migration versions', () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(byKey.size).toBe(objects.length);
    for (const o of objects) {
      expect(typeof o.id).toBe('string');
      expect(['index-pattern', 'search', 'lens', 'dashboard']).toContain(o.type);
      expect(o.coreMigrationVersion).toMatch(/^8\.\d+\.\d+$/);
      expect(o.typeMigrationVersion).toMatch(/^\d+\.\d+\.\d+$/);
      expect(Array.isArray(o.references)).toBe(true);
      expect(typeof o.attributes.title).toBe('string');
    }
  });

  it('has a data view on auditmesh-records-* with @timestamp as its time field, matching the template', () => {
    const dv = objects.filter((o) => o.type === 'index-pattern');
    expect(dv.map((o) => [o.attributes.title, o.attributes.timeFieldName])).toEqual([['auditmesh-records-*', '@timestamp']]);
    // The template's pattern with the default index prefix is the data view's.
    expect(template.index_patterns.map((p: string) => p.replace('{{prefix}}', 'auditmesh'))).toContain(dv[0]!.attributes.title);
  });

  it('has the SOC 2 review and Investigation dashboards, built from Lens visualizations and saved searches', () => {
    const titles = objects.filter((o) => o.type === 'dashboard').map((o) => o.attributes.title);
    expect(titles).toEqual(expect.arrayContaining([expect.stringMatching(/SOC 2 review/), expect.stringMatching(/Investigation/)]));
    const searches = objects.filter((o) => o.type === 'search').map((o) => o.attributes.title);
    expect(searches.length).toBeGreaterThanOrEqual(3);
    const soc2 = objects.find((o) => o.type === 'dashboard' && /SOC 2/.test(o.attributes.title))!;
    const lensTitles = soc2.references.filter((r) => r.type === 'lens').map((r) => byKey.get(`lens/${r.id}`)!.attributes.title as string);
    for (const topic of [/denied/i, /unverified/i, /access by identity/i, /sensitive paths/i]) expect(lensTitles.some((t) => topic.test(t))).toBe(true);
    const inv = objects.find((o) => o.type === 'dashboard' && /Investigation/.test(o.attributes.title))!;
    const invFields = inv.references.flatMap((r) => uses(byKey.get(`${r.type}/${r.id}`)!)).map((u) => u.field);
    for (const f of ['trace.id', 'user.id', 'source.ip']) expect(invFields).toContain(f);
  });

  it('references only fields the template maps, with a type each use supports', () => {
    const problems: string[] = [];
    const all = objects.flatMap(uses);
    expect(all.length).toBeGreaterThan(20);
    for (const u of all) {
      const type = fields.get(u.field);
      if (!type) problems.push(`${u.object}: ${u.field} is not mapped in records-template.json (root is dynamic:false, so Kibana cannot see it)`);
      else if (u.need === 'date' && type !== 'date' && type !== 'date_nanos') problems.push(`${u.object}: ${u.field} is ${type}, needs date`);
      else if (u.need === 'aggregatable' && !AGGREGATABLE.has(type)) problems.push(`${u.object}: ${u.field} is ${type}, not aggregatable (use a keyword/ip/date/numeric field)`);
      else if (u.need === 'numeric_or_date' && !NUMERIC_OR_DATE.has(type)) problems.push(`${u.object}: ${u.field} is ${type}, needs a numeric or date field`);
      else if (u.need === 'searchable' && !SEARCHABLE.has(type)) problems.push(`${u.object}: ${u.field} is ${type}, not searchable`);
    }
    expect(problems).toEqual([]);
  });

  it('resolves every reference: data view of each search and Lens layer, every dashboard panel', () => {
    const problems: string[] = [];
    for (const o of objects) {
      for (const r of o.references) if (!byKey.has(`${r.type}/${r.id}`)) problems.push(`${o.type}/${o.id}: reference ${r.name} → ${r.type}/${r.id} is not in dashboards/`);
      if (o.type === 'search') {
        const src = JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON);
        if (!o.references.some((r) => r.name === src.indexRefName && r.type === 'index-pattern')) problems.push(`search/${o.id}: no index-pattern reference named ${src.indexRefName}`);
      }
      if (o.type === 'lens') {
        for (const layerId of Object.keys(o.attributes.state.datasourceStates.formBased.layers)) {
          if (!o.references.some((r) => r.name === `indexpattern-datasource-layer-${layerId}` && r.type === 'index-pattern')) problems.push(`lens/${o.id}: layer ${layerId} has no data view reference`);
        }
        const layer = Object.values(o.attributes.state.datasourceStates.formBased.layers)[0] as { columns: Record<string, unknown>; columnOrder: string[] };
        expect(Object.keys(layer.columns).sort()).toEqual([...layer.columnOrder].sort());
      }
      if (o.type === 'dashboard') {
        const panels = JSON.parse(o.attributes.panelsJSON) as { panelIndex: string; panelRefName: string; gridData: { x: number; w: number } }[];
        expect(panels.length).toBeGreaterThan(0);
        for (const p of panels) {
          if (!o.references.some((r) => r.name === `${p.panelIndex}:${p.panelRefName}`)) problems.push(`dashboard/${o.id}: panel ${p.panelIndex} has no reference ${p.panelIndex}:${p.panelRefName}`);
          if (p.gridData.x + p.gridData.w > 48) problems.push(`dashboard/${o.id}: panel ${p.panelIndex} is wider than the 48-column grid`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('flags a field the template does not map (the check has teeth)', () => {
    expect(fields.get('panw.panos.flow_id')).toBeUndefined();
    expect(kqlFields('auditmesh.record_type : "request" and not panw.panos.flow_id : 7 or http.response.status_code >= 400')).toEqual(['auditmesh.record_type', 'panw.panos.flow_id', 'http.response.status_code']);
    expect(fields.get('url.path.text')).toBe('text');
    expect(AGGREGATABLE.has(fields.get('url.path.text')!)).toBe(false);
  });
});
