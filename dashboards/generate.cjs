#!/usr/bin/env node
'use strict';
/**
 * Kibana 8.19 saved objects for auditmesh records, written to dashboards/auditmesh.ndjson:
 * a data view for auditmesh-records-*, saved searches, Lens visualizations (by reference) and two
 * dashboards ("SOC 2 review" and "Investigation").
 *
 * This file is the source: edit it and run `node dashboards/generate.cjs`. test/dashboards.test.ts
 * checks the NDJSON is up to date and that every field it uses is mapped, with an aggregatable type,
 * in pipelines/elasticsearch/records-template.json.
 *
 * Versions: objects carry the oldest model version whose shape they use (Kibana migrates forward on
 * import; an import never accepts a version newer than the Kibana it goes into).
 */
const fs = require('node:fs');
const path = require('node:path');

const DATA_VIEW = 'auditmesh-records';
const CORE = '8.8.0';
const VERSIONS = { 'index-pattern': '8.0.0', search: '8.0.0', lens: '8.9.0', dashboard: '8.9.0' };

const obj = (type, id, attributes, references = []) => ({
  attributes,
  coreMigrationVersion: CORE,
  id,
  managed: false,
  references,
  type,
  typeMigrationVersion: VERSIONS[type],
});
const kql = (query) => ({ query, language: 'kuery' });
const dataViewRef = (name) => ({ id: DATA_VIEW, name, type: 'index-pattern' });

// ---- data view --------------------------------------------------------------------------------
const dataView = obj('index-pattern', DATA_VIEW, {
  name: 'auditmesh records',
  title: 'auditmesh-records-*',
  timeFieldName: '@timestamp',
  fields: '[]',
  fieldAttrs: JSON.stringify({
    'auditmesh.identity.subject': { customLabel: 'Identity' },
    'auditmesh.identity.verdict': { customLabel: 'Verdict' },
    'auditmesh.sources': { customLabel: 'Layers' },
  }),
  fieldFormatMap: '{}',
  runtimeFieldMap: '{}',
  sourceFilters: '[]',
  typeMeta: '{}',
  allowNoIndex: true,
});

// ---- saved searches ---------------------------------------------------------------------------
const RECORD_COLUMNS = ['auditmesh.identity.subject', 'auditmesh.identity.verdict', 'http.request.method', 'url.path', 'http.response.status_code', 'event.outcome', 'source.ip', 'auditmesh.sources'];
function search(id, title, description, query, columns = RECORD_COLUMNS) {
  return obj(
    'search',
    id,
    {
      title,
      description,
      columns,
      sort: [['@timestamp', 'desc']],
      grid: {},
      hideChart: false,
      isTextBasedQuery: false,
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({ query: kql(query), filter: [], indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index' }),
      },
    },
    [dataViewRef('kibanaSavedObjectMeta.searchSourceJSON.index')],
  );
}
const searches = {
  denied: search('auditmesh-search-denied', 'auditmesh: denied access', 'Requests refused (event.outcome failure: 401/403 and the like) with who asked and what for.', 'auditmesh.record_type : "request" and event.outcome : "failure"'),
  unverified: search(
    'auditmesh-search-unverified',
    'auditmesh: unverified identity',
    'Requests whose identity was not cryptographically verified: forged, expired or missing tokens, and identities only asserted by a layer.',
    'auditmesh.record_type : "request" and auditmesh.identity.verified : false',
  ),
  sensitive: search('auditmesh-search-sensitive', 'auditmesh: sensitive paths', 'Access to administrative and payment endpoints.', 'url.path : /api/admin* or url.path : /api/payments*'),
  investigation: search(
    'auditmesh-search-investigation',
    'auditmesh: investigation',
    'Every record with its trace, identity and layers; filter by trace.id, user.id or source.ip.',
    '',
    ['trace.id', 'auditmesh.identity.subject', 'auditmesh.identity.verdict', 'user.id', 'source.ip', 'http.request.method', 'url.path', 'http.response.status_code', 'auditmesh.sources', 'auditmesh.record_id'],
  ),
};

// ---- Lens -------------------------------------------------------------------------------------
const LAYER = 'layer1';
const col = {
  count: (label = 'Records', filter) => ({ label, dataType: 'number', operationType: 'count', sourceField: '___records___', isBucketed: false, scale: 'ratio', params: { emptyAsNull: false }, customLabel: true, ...(filter ? { filter: kql(filter) } : {}) }),
  uniqueCount: (field, label) => ({ label, dataType: 'number', operationType: 'unique_count', sourceField: field, isBucketed: false, scale: 'ratio', params: { emptyAsNull: false }, customLabel: true }),
  max: (field, label, dataType = 'date') => ({ label, dataType, operationType: 'max', sourceField: field, isBucketed: false, scale: dataType === 'date' ? 'interval' : 'ratio', params: { emptyAsNull: true }, customLabel: true }),
  min: (field, label, dataType = 'date') => ({ label, dataType, operationType: 'min', sourceField: field, isBucketed: false, scale: dataType === 'date' ? 'interval' : 'ratio', params: { emptyAsNull: true }, customLabel: true }),
  dateHistogram: () => ({ label: '@timestamp', dataType: 'date', operationType: 'date_histogram', sourceField: '@timestamp', isBucketed: true, scale: 'interval', params: { interval: 'auto', includeEmptyRows: true, dropPartials: false } }),
  terms: (field, label, size, orderBy, dataType = 'string') => ({
    label,
    dataType,
    operationType: 'terms',
    sourceField: field,
    isBucketed: true,
    scale: 'ordinal',
    customLabel: true,
    params: { size, orderBy: { type: 'column', columnId: orderBy }, orderDirection: 'desc', otherBucket: false, missingBucket: false, parentFormat: { id: 'terms' }, include: [], exclude: [], includeIsRegex: false, excludeIsRegex: false },
  }),
};

function lens(id, title, description, visualizationType, columns, visualization, query = '') {
  const columnOrder = Object.keys(columns);
  return obj(
    'lens',
    id,
    {
      title,
      description,
      visualizationType,
      state: {
        adHocDataViews: {},
        datasourceStates: { formBased: { layers: { [LAYER]: { columns, columnOrder, incompleteColumns: {}, sampling: 1 } } } },
        filters: [],
        internalReferences: [],
        query: kql(query),
        visualization,
      },
    },
    [dataViewRef(`indexpattern-datasource-layer-${LAYER}`)],
  );
}

const xy = (x, y, breakdown, seriesType = 'bar_stacked') => ({
  legend: { isVisible: true, position: 'right' },
  valueLabels: 'hide',
  preferredSeriesType: seriesType,
  layers: [{ layerId: LAYER, layerType: 'data', seriesType, xAccessor: x, accessors: [y], ...(breakdown ? { splitAccessor: breakdown } : {}) }],
});
const table = (columnIds) => ({ layerId: LAYER, layerType: 'data', columns: columnIds.map((columnId) => ({ columnId })) });
const pie = (groups, metric) => ({ shape: 'donut', layers: [{ layerId: LAYER, layerType: 'data', primaryGroups: groups, metrics: [metric], numberDisplay: 'percent', categoryDisplay: 'default', legendDisplay: 'default', nestedLegend: false }] });
const metric = (accessor) => ({ layerId: LAYER, layerType: 'data', metricAccessor: accessor });

const REQUESTS = 'auditmesh.record_type : "request"';
const lenses = {
  deniedOverTime: lens(
    'auditmesh-lens-denied-over-time',
    'Denied access over time',
    'Failed requests per interval, by HTTP status.',
    'lnsXY',
    { t: col.dateHistogram(), s: col.terms('http.response.status_code', 'Status', 5, 'n', 'number'), n: col.count() },
    xy('t', 'n', 's'),
    `${REQUESTS} and event.outcome : "failure"`,
  ),
  deniedByIdentity: lens(
    'auditmesh-lens-denied-by-identity',
    'Denied access by identity',
    'Who was refused, how often, on how many paths, and when last.',
    'lnsDatatable',
    { who: col.terms('auditmesh.identity.subject', 'Identity', 20, 'n'), n: col.count('Denied'), p: col.uniqueCount('url.path', 'Paths'), last: col.max('@timestamp', 'Last denied') },
    table(['who', 'n', 'p', 'last']),
    `${REQUESTS} and event.outcome : "failure"`,
  ),
  unverified: lens(
    'auditmesh-lens-unverified-identity',
    'Unverified identity by verdict',
    'Requests without a verified identity, by verification verdict (invalid_signature = forged token).',
    'lnsPie',
    { v: col.terms('auditmesh.identity.verdict', 'Verdict', 10, 'n'), n: col.count() },
    pie(['v'], 'n'),
    `${REQUESTS} and auditmesh.identity.verified : false`,
  ),
  mismatches: lens(
    'auditmesh-lens-identity-mismatch',
    'Identity mismatches between layers',
    'Requests where the gateway, mesh, firewall or app named different principals.',
    'lnsMetric',
    { n: col.count('Mismatched requests') },
    metric('n'),
    `${REQUESTS} and auditmesh.identity.mismatch : true`,
  ),
  accessByIdentity: lens(
    'auditmesh-lens-access-by-identity',
    'Access by identity',
    'Every identity with its request count, failures, distinct paths and source addresses, and first/last access.',
    'lnsDatatable',
    {
      who: col.terms('auditmesh.identity.subject', 'Identity', 50, 'n'),
      method: col.terms('auditmesh.identity.method', 'Method', 3, 'n'),
      n: col.count('Requests'),
      f: col.count('Failures', 'event.outcome : "failure"'),
      p: col.uniqueCount('url.path', 'Paths'),
      ip: col.uniqueCount('source.ip', 'Source IPs'),
      first: col.min('@timestamp', 'First'),
      last: col.max('@timestamp', 'Last'),
    },
    table(['who', 'method', 'n', 'f', 'p', 'ip', 'first', 'last']),
    REQUESTS,
  ),
  sensitivePaths: lens(
    'auditmesh-lens-sensitive-paths',
    'Sensitive paths: who touched them',
    'Administrative and payment endpoints by identity and outcome.',
    'lnsDatatable',
    { path: col.terms('url.path', 'Path', 20, 'n'), who: col.terms('auditmesh.identity.subject', 'Identity', 10, 'n'), o: col.terms('event.outcome', 'Outcome', 3, 'n'), n: col.count('Requests'), last: col.max('@timestamp', 'Last') },
    table(['path', 'who', 'o', 'n', 'last']),
    'url.path : /api/admin* or url.path : /api/payments*',
  ),
  bySourceIp: lens(
    'auditmesh-lens-by-source-ip',
    'Requests by source IP',
    'Client addresses with the identities seen from each.',
    'lnsDatatable',
    { ip: col.terms('source.ip', 'Source IP', 50, 'n', 'ip'), n: col.count('Records'), who: col.uniqueCount('auditmesh.identity.subject', 'Identities'), f: col.count('Failures', 'event.outcome : "failure"'), last: col.max('@timestamp', 'Last') },
    table(['ip', 'n', 'who', 'f', 'last']),
  ),
  byUserOverTime: lens(
    'auditmesh-lens-by-user-over-time',
    'Requests by user over time',
    'Top users (ECS user.id) per interval.',
    'lnsXY',
    { t: col.dateHistogram(), u: col.terms('user.id', 'User', 10, 'n'), n: col.count() },
    xy('t', 'n', 'u'),
    REQUESTS,
  ),
  traces: lens(
    'auditmesh-lens-traces',
    'Traces',
    'Requests by trace id: how many layers reported each, who made it, when.',
    'lnsDatatable',
    { tr: col.terms('trace.id', 'Trace', 100, 'first'), who: col.terms('auditmesh.identity.subject', 'Identity', 1, 'n'), n: col.count('Records'), layers: col.uniqueCount('auditmesh.sources', 'Layers'), first: col.min('@timestamp', 'First') },
    table(['tr', 'who', 'n', 'layers', 'first']),
    'trace.id : *',
  ),
};

// ---- dashboards -------------------------------------------------------------------------------
function dashboard(id, title, description, panels) {
  const references = [];
  const panelsJSON = panels.map((p, i) => {
    const panelIndex = `p${i + 1}`;
    references.push({ id: p.ref.id, name: `${panelIndex}:panel_${panelIndex}`, type: p.ref.type });
    return { type: p.ref.type, gridData: { x: p.x, y: p.y, w: p.w, h: p.h, i: panelIndex }, panelIndex, embeddableConfig: { enhancements: {} }, panelRefName: `panel_${panelIndex}` };
  });
  return obj(
    'dashboard',
    id,
    {
      title,
      description,
      panelsJSON: JSON.stringify(panelsJSON),
      optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
      timeRestore: true,
      timeFrom: 'now-30d',
      timeTo: 'now',
      refreshInterval: { pause: true, value: 60000 },
      kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: kql(''), filter: [] }) },
    },
    references,
  );
}

const soc2 = dashboard('auditmesh-dashboard-soc2', 'auditmesh: SOC 2 review', 'Access review evidence: denied access, unverified identities, access by identity and sensitive paths.', [
  { ref: lenses.deniedOverTime, x: 0, y: 0, w: 32, h: 12 },
  { ref: lenses.mismatches, x: 32, y: 0, w: 16, h: 12 },
  { ref: lenses.deniedByIdentity, x: 0, y: 12, w: 24, h: 14 },
  { ref: lenses.unverified, x: 24, y: 12, w: 24, h: 14 },
  { ref: lenses.accessByIdentity, x: 0, y: 26, w: 48, h: 16 },
  { ref: lenses.sensitivePaths, x: 0, y: 42, w: 48, h: 14 },
  { ref: searches.unverified, x: 0, y: 56, w: 48, h: 16 },
]);
const investigation = dashboard('auditmesh-dashboard-investigation', 'auditmesh: Investigation', 'By trace, user and source IP. Filter with trace.id, user.id or source.ip in the query bar.', [
  { ref: lenses.byUserOverTime, x: 0, y: 0, w: 48, h: 12 },
  { ref: lenses.bySourceIp, x: 0, y: 12, w: 24, h: 16 },
  { ref: lenses.traces, x: 24, y: 12, w: 24, h: 16 },
  { ref: searches.investigation, x: 0, y: 28, w: 48, h: 20 },
]);

/** Every saved object, dependencies first (the order Kibana's export uses). */
function build() {
  return [dataView, ...Object.values(searches), ...Object.values(lenses), soc2, investigation];
}

const OUT = path.join(__dirname, 'auditmesh.ndjson');
function render() {
  return build().map((o) => JSON.stringify(o)).join('\n') + '\n';
}

module.exports = { build, render, OUT };

if (require.main === module) {
  fs.writeFileSync(OUT, render());
  process.stdout.write(`wrote ${build().length} saved objects to ${path.relative(process.cwd(), OUT)}\n`);
}
