#!/usr/bin/env node
'use strict';
// Checks deploy/sentinel: every KQL query (parsers, analytics rules, hunting queries, workbook, data connector) analyses
// with Microsoft's Kusto language service against the tables of every schema file in sources/schema with zero
// errors, in both shapes a workspace may hold them: plain names (Logs Ingestion) and type-suffixed names (the
// legacy Data Collector API's classic tables); the parsers return the same columns in both, and every column they
// look up with column_ifexists() is one the schema defines (in either shape); every table has a parser; the rule and hunting files carry what Azure-Sentinel's YAML format needs
// (ids, timings, entity and detail columns that the query really returns) and list, as required data types,
// every table their query reads (directly or through the parsers). Usage: check_sentinel.js <repository root>.
// Exit 1 on any problem.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { Workspace } = require('./kusto');
const { loadSchemas, dataCollectorColumns } = require('./schemas');

const root = path.resolve(process.argv[2] || path.join(__dirname, '../../..'));
const sentinel = path.join(root, 'deploy/sentinel');
const problems = [];
const schemas = loadSchemas(root, problems);
const tableNames = schemas.map((s) => s.table);
const counts = { parser: 0, analytics: 0, hunting: 0, workbook: 0, dataconnector: 0 };
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function rel(file) {
  return path.relative(root, file);
}
function problem(file, message) {
  problems.push(`${rel(file)}: ${message}`);
}
function yamlFiles(dir) {
  const full = path.join(sentinel, dir);
  return fs.readdirSync(full).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(full, f));
}
function readYaml(file) {
  try {
    return YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    problem(file, `YAML does not parse: ${e.message}`);
    return null;
  }
}
// Analyses against every table shape; returns the Logs Ingestion shape's result with all shapes' errors.
function analyse(shapes, file, what, query) {
  if (typeof query !== 'string' || !query.trim()) {
    problem(file, `${what}: no query`);
    return null;
  }
  let first = null;
  const errors = [];
  for (const [shape, ws] of shapes) {
    const r = ws.analyse(query);
    const label = shape === 'Logs Ingestion' ? '' : ` (${shape} table shape)`;
    for (const e of r.errors) problem(file, `${what}: KQL error${label} at ${e.line}:${e.column}: ${e.message}`);
    errors.push(...r.errors);
    if (!first) first = { ...r, byShape: {} };
    first.byShape[shape] = r.columns;
  }
  first.errors = errors;
  return first;
}
function minutes(span) {
  const m = /^(\d+)([mhd])$/.exec(String(span));
  if (!m) return NaN;
  return Number(m[1]) * { m: 1, h: 60, d: 1440 }[m[2]];
}

// The shapes a workspace may hold the tables in: created by the templates (plain names); created by the legacy
// Data Collector API (suffixed names); and early in legacy mode, when only the alerts' classic table exists yet
// (the others appear with their first row) - queries must not fail then. The data connector's per-table queries
// are analysed against the first two only.
const ALERTS = 'FireEyeETPAlerts_CL';
const ws = [
  ['Logs Ingestion', new Workspace(schemas.map((s) => [s.table, s.columns]))],
  ['Data Collector', new Workspace(schemas.map((s) => [s.table, dataCollectorColumns(s.columns)]))],
  ['Data Collector, only the alerts table yet', new Workspace(schemas.filter((s) => s.table === ALERTS)
    .map((s) => [s.table, dataCollectorColumns(s.columns)]))],
];

// Which tables a query reads: the tables it names, and those of the parsers it calls (transitively).
const word = (name) => new RegExp(`(^|[^A-Za-z0-9_])${name}($|[^A-Za-z0-9_])`);
const parserTables = new Map(); // alias -> Set of tables
function tablesRead(query) {
  const out = new Set(tableNames.filter((t) => word(t).test(query)));
  for (const [alias, tables] of parserTables) if (word(alias).test(query)) for (const t of tables) out.add(t);
  return out;
}

// 1. The parser functions: all are offered to every query (and to each other) under their aliases, then each is
//    analysed against the tables. Each exposes the vendor time (EventEndTime) and the join key (NetworkMessageId,
//    the ETP message id that every table carries); every table has a parser that reads it.
const parsers = [];
for (const file of yamlFiles('parsers')) {
  const p = readYaml(file);
  if (!p) continue;
  counts.parser++;
  if (!GUID.test(String(p.id))) problem(file, 'id is not a GUID');
  if (!p.FunctionAlias) problem(file, 'no FunctionAlias');
  else if (p.FunctionName !== p.FunctionAlias) problem(file, 'FunctionName and FunctionAlias must be the same');
  if (p.FunctionAlias && typeof p.FunctionQuery === 'string') {
    for (const [, w] of ws) w.addFunction(p.FunctionAlias, p.FunctionQuery);
    parsers.push([file, p]);
  }
}
for (let changed = true; changed;) { // tables read, through parsers calling parsers
  changed = false;
  for (const [, p] of parsers) {
    const before = (parserTables.get(p.FunctionAlias) || new Set()).size;
    parserTables.set(p.FunctionAlias, new Set([...(parserTables.get(p.FunctionAlias) || []), ...tablesRead(p.FunctionQuery)]));
    changed = changed || parserTables.get(p.FunctionAlias).size !== before;
  }
}
for (const [file, p] of parsers) {
  const r = analyse(ws, file, 'FunctionQuery', p.FunctionQuery);
  for (const c of ['EventEndTime', 'NetworkMessageId']) {
    if (r && !r.errors.length && !r.columns.includes(c)) problem(file, `the parser must expose ${c}`);
  }
  if (r && !r.errors.length && r.byShape['Logs Ingestion'].join() !== r.byShape['Data Collector'].join()) {
    problem(file, `returns other columns from a Data Collector table (${r.byShape['Data Collector'].join()}) than from a ` +
      `Logs Ingestion table (${r.byShape['Logs Ingestion'].join()})`);
  }
  // column_ifexists() never fails on a name that does not exist: each one must be a column the schema defines.
  const read = schemas.filter((x) => word(x.table).test(p.FunctionQuery));
  const known = new Set(read.flatMap((x) => [...x.columns, ...dataCollectorColumns(x.columns)].map((c) => c.name)));
  for (const [, name] of p.FunctionQuery.matchAll(/column_ifexists\(\s*["']([^"']+)["']/g)) {
    if (!known.has(name) && !(name.endsWith('_g') && known.has(name.replace(/_g$/, '_s')))) {
      problem(file, `column_ifexists("${name}") names no column of ${read.map((x) => x.table).join(', ')} (either shape)`);
    }
  }
}
for (const t of tableNames) {
  if (!parsers.some(([, p]) => word(t).test(p.FunctionQuery))) problems.push(`deploy/sentinel/parsers: no parser reads ${t}`);
}

// 2. Analytics rules (Azure-Sentinel "Detections" YAML, kind Scheduled).
const RULE_KEYS = ['id', 'name', 'description', 'severity', 'requiredDataConnectors', 'queryFrequency', 'queryPeriod',
  'triggerOperator', 'triggerThreshold', 'tactics', 'relevantTechniques', 'query', 'version', 'kind'];
const ids = new Map();
function checkIdentity(file, doc) {
  if (!GUID.test(String(doc.id))) problem(file, 'id is not a GUID');
  else if (ids.has(doc.id)) problem(file, `id ${doc.id} also used by ${ids.get(doc.id)}`);
  else ids.set(doc.id, rel(file));
  if (!/^\d+\.\d+\.\d+$/.test(String(doc.version))) problem(file, 'version must be x.y.z');
  const listed = (doc.requiredDataConnectors || []).flatMap((c) => c.dataTypes || []);
  for (const t of listed) if (!tableNames.includes(t)) problem(file, `requiredDataConnectors lists ${t}, which no schema file describes`);
  const read = typeof doc.query === 'string' ? tablesRead(doc.query) : new Set();
  if (!read.size) problem(file, 'the query reads none of the tables (directly or through a parser)');
  for (const t of read) if (!listed.includes(t)) problem(file, `requiredDataConnectors must list ${t} (the query reads it)`);
}
function checkColumns(file, what, names, columns) {
  for (const n of names) if (!columns.includes(n)) problem(file, `${what} refers to ${n}, which the query does not return`);
}
for (const file of yamlFiles('analytics')) {
  const rule = readYaml(file);
  if (!rule) continue;
  counts.analytics++;
  for (const k of RULE_KEYS) if (!(k in rule)) problem(file, `missing ${k}`);
  checkIdentity(file, rule);
  if (rule.kind !== 'Scheduled') problem(file, 'kind must be Scheduled');
  if (!['Informational', 'Low', 'Medium', 'High'].includes(rule.severity)) problem(file, 'bad severity');
  if (!['gt', 'lt', 'eq', 'ne'].includes(rule.triggerOperator)) problem(file, 'bad triggerOperator');
  const freq = minutes(rule.queryFrequency);
  const period = minutes(rule.queryPeriod);
  if (!(freq >= 5 && freq <= 14 * 1440)) problem(file, 'queryFrequency must be 5m..14d');
  if (!(period >= freq && period <= 14 * 1440)) problem(file, 'queryPeriod must be >= queryFrequency and <= 14d');
  const r = analyse(ws, file, 'query', rule.query);
  if (!r || r.errors.length) continue;
  for (const m of rule.entityMappings || []) {
    checkColumns(file, `entity ${m.entityType}`, (m.fieldMappings || []).map((f) => f.columnName), r.columns);
  }
  checkColumns(file, 'customDetails', Object.values(rule.customDetails || {}), r.columns);
  const templates = Object.values(rule.alertDetailsOverride || {}).join(' ');
  checkColumns(file, 'alertDetailsOverride', [...templates.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]), r.columns);
}

// 3. Hunting queries.
for (const file of yamlFiles('hunting')) {
  const h = readYaml(file);
  if (!h) continue;
  counts.hunting++;
  for (const k of ['id', 'name', 'description', 'requiredDataConnectors', 'tactics', 'relevantTechniques', 'query']) {
    if (!(k in h)) problem(file, `missing ${k}`);
  }
  checkIdentity(file, h);
  const r = analyse(ws, file, 'query', h.query);
  if (r && !r.errors.length) {
    for (const m of h.entityMappings || []) {
      checkColumns(file, `entity ${m.entityType}`, (m.fieldMappings || []).map((f) => f.columnName), r.columns);
    }
  }
}

// 4. Workbooks: every query item, with the workbook's time-range parameter substituted the way the portal does.
const PARAMETERS = { '{TimeRange:start}': '2026-01-01T00:00:00.000Z', '{TimeRange:end}': '2026-01-08T00:00:00.000Z' };
function workbookItems(items, out) {
  for (const it of items || []) {
    if (it.type === 3) out.push(it);
    if (it.type === 12) workbookItems(it.content && it.content.items, out); // groups
  }
  return out;
}
const wbDir = path.join(sentinel, 'workbooks');
for (const f of fs.readdirSync(wbDir).filter((n) => n.endsWith('.json')).sort()) {
  const file = path.join(wbDir, f);
  let wb;
  try {
    wb = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    problem(file, `JSON does not parse: ${e.message}`);
    continue;
  }
  if (wb.version !== 'Notebook/1.0') problem(file, 'version must be Notebook/1.0');
  const items = workbookItems(wb.items, []);
  if (!items.length) problem(file, 'no query items');
  for (const it of items) {
    counts.workbook++;
    let q = it.content.query || '';
    for (const [k, v] of Object.entries(PARAMETERS)) q = q.split(k).join(v);
    const left = q.match(/\{[A-Za-z]\w*(:\w+)?\}/);
    if (left) problem(file, `item ${it.name}: unknown workbook parameter ${left[0]}`);
    analyse(ws, file, `item ${it.name}`, q);
  }
}

// 5. Data connector definitions (Azure-Sentinel "GenericUI" JSON): every query analyses; rules and hunting
//    queries name a connector that exists here.
const dcDir = path.join(sentinel, 'dataconnectors');
const connectorIds = new Set();
for (const f of fs.readdirSync(dcDir).filter((n) => n.endsWith('.json')).sort()) {
  const file = path.join(dcDir, f);
  let dc;
  try {
    dc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    problem(file, `JSON does not parse: ${e.message}`);
    continue;
  }
  counts.dataconnector++;
  connectorIds.add(dc.id);
  for (const t of tableNames) {
    if (!(dc.dataTypes || []).some((d) => d.name === t)) problem(file, `dataTypes must include ${t}`);
  }
  const queries = [
    ...(dc.graphQueries || []).map((g, i) => [`graphQueries[${i}]`, g.baseQuery]),
    ...(dc.sampleQueries || []).map((q, i) => [`sampleQueries[${i}]`, q.query]),
    ...(dc.dataTypes || []).map((d, i) => [`dataTypes[${i}]`, d.lastDataReceivedQuery]),
    ...(dc.connectivityCriterias || []).flatMap((c, i) => (c.value || []).map((q, j) => [`connectivityCriterias[${i}][${j}]`, q])),
  ];
  for (const [what, q] of queries) analyse(ws.slice(0, 2), file, what, q);
}
for (const [id, file] of ids) {
  const doc = YAML.parse(fs.readFileSync(path.join(root, file), 'utf8'));
  for (const c of doc.requiredDataConnectors || []) {
    if (!connectorIds.has(c.connectorId)) problems.push(`${file}: requiredDataConnectors names ${c.connectorId}, which deploy/sentinel/dataconnectors does not define (${id})`);
  }
}

const needed = { parser: tableNames.length, analytics: 5, hunting: 3, workbook: 1, dataconnector: 1 };
for (const [k, n] of Object.entries(needed)) {
  if (counts[k] < n) problems.push(`deploy/sentinel: ${counts[k]} ${k} item(s), at least ${n} expected`);
}
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`check_sentinel: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check_sentinel: ok (${counts.parser} parser, ${counts.analytics} analytics rules, ` +
  `${counts.hunting} hunting queries, ${counts.workbook} workbook queries, ${counts.dataconnector} data connector; ` +
  'zero KQL errors)');
