#!/usr/bin/env node
'use strict';
// Checks deploy/sentinel: every KQL query (parser, analytics rules, hunting queries, workbook, data connector) analyses with
// Microsoft's Kusto language service against the shipper's table schema with zero errors, and the rule and
// hunting files carry what Azure-Sentinel's YAML format needs (ids, timings, entity and detail columns that
// the query really returns). Usage: check_sentinel.js <repository root>. Exit 1 on any problem.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { Workspace } = require('./kusto');

const root = path.resolve(process.argv[2] || path.join(__dirname, '../../..'));
const schema = JSON.parse(fs.readFileSync(path.join(root, 'sources/schema/FireEyeETPAlerts_CL.json'), 'utf8'));
const sentinel = path.join(root, 'deploy/sentinel');
const problems = [];
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
function analyse(ws, file, what, query) {
  if (typeof query !== 'string' || !query.trim()) {
    problem(file, `${what}: no query`);
    return null;
  }
  const r = ws.analyse(query);
  for (const e of r.errors) problem(file, `${what}: KQL error at ${e.line}:${e.column}: ${e.message}`);
  return r;
}
function minutes(span) {
  const m = /^(\d+)([mhd])$/.exec(String(span));
  if (!m) return NaN;
  return Number(m[1]) * { m: 1, h: 60, d: 1440 }[m[2]];
}

const ws = new Workspace([[schema.table, schema.columns]]);

// 1. The parser function: analysed against the table, then offered to every other query under its alias.
for (const file of yamlFiles('parsers')) {
  const p = readYaml(file);
  if (!p) continue;
  counts.parser++;
  if (!GUID.test(String(p.id))) problem(file, 'id is not a GUID');
  if (!p.FunctionAlias) problem(file, 'no FunctionAlias');
  const r = analyse(ws, file, 'FunctionQuery', p.FunctionQuery);
  if (r && !r.columns.includes('EventEndTime')) problem(file, 'the parser must expose the vendor time as EventEndTime');
  if (p.FunctionAlias && typeof p.FunctionQuery === 'string') ws.addFunction(p.FunctionAlias, p.FunctionQuery);
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
  const tables = (doc.requiredDataConnectors || []).flatMap((c) => c.dataTypes || []);
  if (!tables.includes(schema.table)) problem(file, `requiredDataConnectors must list ${schema.table}`);
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
  if (!(dc.dataTypes || []).some((d) => d.name === schema.table)) problem(file, `dataTypes must include ${schema.table}`);
  const queries = [
    ...(dc.graphQueries || []).map((g, i) => [`graphQueries[${i}]`, g.baseQuery]),
    ...(dc.sampleQueries || []).map((q, i) => [`sampleQueries[${i}]`, q.query]),
    ...(dc.dataTypes || []).map((d, i) => [`dataTypes[${i}]`, d.lastDataReceivedQuery]),
    ...(dc.connectivityCriterias || []).flatMap((c, i) => (c.value || []).map((q, j) => [`connectivityCriterias[${i}][${j}]`, q])),
  ];
  for (const [what, q] of queries) analyse(ws, file, what, q);
}
for (const [id, file] of ids) {
  const doc = YAML.parse(fs.readFileSync(path.join(root, file), 'utf8'));
  for (const c of doc.requiredDataConnectors || []) {
    if (!connectorIds.has(c.connectorId)) problems.push(`${file}: requiredDataConnectors names ${c.connectorId}, which deploy/sentinel/dataconnectors does not define (${id})`);
  }
}

const needed = { parser: 1, analytics: 5, hunting: 3, workbook: 1, dataconnector: 1 };
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
