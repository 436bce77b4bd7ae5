#!/usr/bin/env node
'use strict';
// The row schema has one machine-readable source, sources/schema/FireEyeETPAlerts_CL.json (compiled into
// the connector). This checks that every Azure template carries exactly that schema:
// - the ARM template's table columns and DCR stream declaration: same names, same order, same types;
// - Terraform: the table and the DCR stream are generated from that very file (the file() path resolves to it and
//   the generating expressions map name and type unchanged), and name the schema's table and stream;
// - every DCR transform (ARM and Terraform) analyses against the stream with the Kusto language service, outputs
//   exactly the table's columns, and never sets TimeGenerated from now().
// Usage: check_schema.js <repository root>. Exit 1 on any problem.
const fs = require('fs');
const path = require('path');
const { Workspace } = require('./kusto');
const { parseDir, merged } = require('./terraform');

const root = path.resolve(process.argv[2] || path.join(__dirname, '../../..'));
const schemaFile = path.join(root, 'sources/schema/FireEyeETPAlerts_CL.json');
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
const expected = schema.columns.map((c) => ({ name: c.name, type: c.type }));
const problems = [];

function sameColumns(where, actual) {
  if (!Array.isArray(actual)) {
    problems.push(`${where}: no column list`);
    return;
  }
  const got = actual.map((c) => ({ name: c.name, type: String(c.type) }));
  const n = Math.max(got.length, expected.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const e = expected[i];
    if (!g) problems.push(`${where}: column ${e.name} (${e.type}) missing at position ${i + 1}`);
    else if (!e) problems.push(`${where}: extra column ${g.name} (${g.type}) at position ${i + 1}`);
    else if (g.name !== e.name) problems.push(`${where}: column ${i + 1} is ${g.name}, the shipper sends ${e.name}`);
    else if (g.type.toLowerCase() !== e.type.toLowerCase()) problems.push(`${where}: column ${g.name} has type ${g.type}, the shipper sends ${e.type}`);
  }
}

function checkTransform(where, kql) {
  if (typeof kql !== 'string' || !kql.trim()) {
    problems.push(`${where}: no transformKql`);
    return;
  }
  if (/\bnow\s*\(/.test(kql)) problems.push(`${where}: transformKql uses now(), which throws the vendor time away`);
  const ws = new Workspace([['source', schema.columns]]);
  const r = ws.analyse(kql);
  for (const e of r.errors) problems.push(`${where}: transformKql error at ${e.line}:${e.column}: ${e.message}`);
  if (!r.errors.length && r.columns.join(',') !== expected.map((c) => c.name).join(',')) {
    problems.push(`${where}: transformKql outputs ${r.columns.join(',')}, the table has ${expected.map((c) => c.name).join(',')}`);
  }
}

// ARM template: literal columns.
function checkArm() {
  const file = path.join(root, 'deploy/azure/arm/azuredeploy.json');
  const where = path.relative(root, file);
  let t;
  try {
    t = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    problems.push(`${where}: JSON does not parse: ${e.message}`);
    return;
  }
  // Template expressions: brackets balanced, every parameters('x') / variables('y') defined, outputs for .env.
  const walk = (v, at) => {
    if (typeof v === 'string' && v.startsWith('[') && !v.startsWith('[[')) {
      let depth = 0;
      for (const ch of v.slice(1, -1).replace(/'[^']*'/g, '')) {
        depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
        if (depth < 0) break;
      }
      if (!v.endsWith(']') || depth !== 0) problems.push(`${where} ${at}: unbalanced template expression ${v}`);
      for (const [, kind, name] of v.matchAll(/\b(parameters|variables)\('([^']+)'\)/g)) {
        if (!(t[kind] || {})[name]) problems.push(`${where} ${at}: ${kind}('${name}') is not defined`);
      }
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, `${at}/${k}`);
    }
  };
  walk(t.resources, 'resources');
  walk(t.outputs, 'outputs');
  walk(t.variables, 'variables');
  for (const k of ['SENTINEL_DCE_URL', 'SENTINEL_DCR_ID', 'SENTINEL_STREAM', 'AZURE_TENANT_ID']) {
    if (!(t.outputs || {})[k]) problems.push(`${where}: no output ${k} (the compose .env needs it)`);
  }
  const vars = t.variables || {};
  const table = (t.resources || []).find((r) => r.type === 'Microsoft.OperationalInsights/workspaces/tables');
  const dcr = (t.resources || []).find((r) => r.type === 'Microsoft.Insights/dataCollectionRules');
  if (vars.tableName !== schema.table) problems.push(`${where}: tableName is ${vars.tableName}, not ${schema.table}`);
  if (vars.streamName !== schema.stream) problems.push(`${where}: streamName is ${vars.streamName}, not ${schema.stream}`);
  if (!table) problems.push(`${where}: no table resource`);
  else sameColumns(`${where} table`, table.properties.schema.columns);
  if (!dcr) {
    problems.push(`${where}: no data collection rule`);
    return;
  }
  const decl = dcr.properties.streamDeclarations || {};
  if (Object.keys(decl).join() !== schema.stream) problems.push(`${where}: the DCR must declare exactly ${schema.stream}`);
  sameColumns(`${where} DCR stream`, (decl[schema.stream] || {}).columns);
  for (const [i, f] of (dcr.properties.dataFlows || []).entries()) checkTransform(`${where} dataFlows[${i}]`, f.transformKql);
}

// Terraform: generated from the schema file; check the generating expressions, then what they produce.
const norm = (s) => String(s).replace(/\s+/g, ' ').trim();
async function checkTerraform() {
  const dir = path.join(root, 'deploy/azure/terraform');
  const where = 'deploy/azure/terraform';
  let tf;
  try {
    tf = merged(await parseDir(dir));
  } catch (e) {
    problems.push(`${where}: HCL does not parse: ${e.message || e}`);
    return;
  }
  const L = tf.local;
  const m = /^\$\{jsondecode\(file\("\$\{path\.module\}\/([^"]+)"\)\)\}$/.exec(L.schema || '');
  if (!m) {
    problems.push(`${where}: local.schema must be jsondecode(file("\${path.module}/<path to the shipper schema>"))`);
    return;
  }
  const target = path.resolve(dir, m[1]);
  if (!fs.existsSync(target) || fs.realpathSync(target) !== fs.realpathSync(schemaFile)) {
    problems.push(`${where}: local.schema reads ${path.relative(root, target)}, not sources/schema/FireEyeETPAlerts_CL.json`);
    return;
  }
  const want = {
    stream: '${local.schema.stream}',
    table: '${local.schema.table}',
    stream_columns: '${[for c in local.schema.columns : { name = c.name, type = c.type }]}',
  };
  for (const [k, v] of Object.entries(want)) {
    if (norm(L[k]) !== v) problems.push(`${where}: local.${k} must be ${v} (is ${norm(L[k])})`);
  }
  const tc = norm(L.table_columns);
  if (!tc.startsWith('${[for c in local.schema.columns : {') || !tc.includes('name = c.name') ||
      !tc.includes('type = c.type == "datetime" ? "dateTime" : c.type')) {
    problems.push(`${where}: local.table_columns must map every schema column's name and type (datetime -> dateTime)`);
  }
  const dcrs = Object.values(tf.resource.azurerm_monitor_data_collection_rule || {}).flat();
  if (dcrs.length !== 1) problems.push(`${where}: expected one data collection rule, found ${dcrs.length}`);
  for (const d of dcrs) {
    const decl = (d.stream_declaration || [])[0] || {};
    const col = ((decl.dynamic || {}).column || [])[0] || {};
    const content = (col.content || [])[0] || {};
    if (decl.stream_name !== '${local.stream}') problems.push(`${where}: DCR stream_name must be local.stream`);
    if (col.for_each !== '${local.stream_columns}' || content.name !== '${column.value.name}' ||
        content.type !== '${column.value.type}') {
      problems.push(`${where}: DCR stream columns must be generated from local.stream_columns (name and type unchanged)`);
    }
    for (const [i, f] of (d.data_flow || []).entries()) {
      if (f.output_stream !== '${local.stream}' || JSON.stringify(f.streams) !== '["${local.stream}"]') {
        problems.push(`${where}: data_flow[${i}] must carry local.stream into local.stream`);
      }
      checkTransform(`${where} data_flow[${i}]`, f.transform_kql);
    }
  }
  const tables = Object.values(tf.resource.azapi_resource || {}).flat()
    .filter((r) => String(r.type).startsWith('Microsoft.OperationalInsights/workspaces/tables@'));
  if (tables.length !== 1) problems.push(`${where}: expected one custom table resource, found ${tables.length}`);
  for (const t of tables) {
    const s = ((t.body || {}).properties || {}).schema || {};
    if (t.name !== '${local.table}' || s.name !== '${local.table}') problems.push(`${where}: the table must be named local.table`);
    if (s.columns !== '${local.table_columns}') problems.push(`${where}: the table's columns must be local.table_columns`);
  }
  // What those expressions produce, checked like the ARM template (documents the mapping, catches type drift).
  const schemaNow = JSON.parse(fs.readFileSync(target, 'utf8'));
  sameColumns(`${where} table (generated)`, schemaNow.columns.map((c) => ({ name: c.name, type: c.type === 'datetime' ? 'dateTime' : c.type })));
  if (schemaNow.stream !== `Custom-${schemaNow.table}`) problems.push(`schema: stream must be Custom-<table>`);
}

(async () => {
  checkArm();
  await checkTerraform();
  if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`check_schema: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`check_schema: ok (${expected.length} columns of ${schema.table} in the ARM table, the ARM stream, ` +
    'and Terraform generated from the schema file; transforms analyse)');
})();
