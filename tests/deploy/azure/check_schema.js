#!/usr/bin/env node
'use strict';
// Each Sentinel table has one machine-readable schema, a file in sources/schema/ (every file there is compiled
// into the connector). This checks that every Azure template carries exactly those schemas, for every file:
// - the ARM template: one table per schema file and one DCR stream declaration per schema file, each with the
//   same column names, order and types; nothing declared that no schema file describes;
// - Terraform: the tables and the DCR streams are generated from the files of that very directory (the fileset()
//   path resolves to it and the generating expressions map name and type unchanged), one each per file;
// - every DCR transform (ARM and Terraform) analyses against its stream with the Kusto language service, outputs
//   exactly its table's columns, and never sets TimeGenerated from now().
// Usage: check_schema.js <repository root>. Exit 1 on any problem.
const fs = require('fs');
const path = require('path');
const { Workspace } = require('./kusto');
const { parseDir, merged } = require('./terraform');
const { loadSchemas } = require('./schemas');

const root = path.resolve(process.argv[2] || path.join(__dirname, '../../..'));
const schemaDir = path.join(root, 'sources/schema');
const problems = [];
const schemas = loadSchemas(root, problems);
const byStream = new Map(schemas.map((s) => [s.stream, s]));
const ALERTS = 'FireEyeETPAlerts_CL';

function sameColumns(where, actual, schema) {
  if (!Array.isArray(actual)) {
    problems.push(`${where}: no column list`);
    return;
  }
  const expected = schema.columns.map((c) => ({ name: c.name, type: c.type }));
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

function checkTransform(where, kql, schema) {
  if (typeof kql !== 'string' || !kql.trim()) {
    problems.push(`${where}: no transformKql`);
    return;
  }
  if (/\bnow\s*\(/.test(kql)) problems.push(`${where}: transformKql uses now(), which throws the vendor time away`);
  const ws = new Workspace([['source', schema.columns]]);
  const r = ws.analyse(kql);
  for (const e of r.errors) problems.push(`${where}: transformKql error at ${e.line}:${e.column}: ${e.message}`);
  const want = schema.columns.map((c) => c.name).join(',');
  if (!r.errors.length && r.columns.join(',') !== want) {
    problems.push(`${where}: transformKql outputs ${r.columns.join(',')}, the table has ${want}`);
  }
}

// A data flow carries one schema's stream into that same stream's table.
function checkFlows(where, flows, streamsOf, outputOf, transformOf) {
  const covered = new Set();
  for (const [i, f] of (flows || []).entries()) {
    const streams = streamsOf(f);
    const s = byStream.get(streams[0]);
    if (streams.length !== 1 || !s) {
      problems.push(`${where} data flow ${i}: must carry exactly one schema stream (has ${JSON.stringify(streams)})`);
      continue;
    }
    if (outputOf(f) !== s.stream) problems.push(`${where} data flow ${i}: ${s.stream} must go to ${s.stream}, not ${outputOf(f)}`);
    covered.add(s.stream);
    checkTransform(`${where} data flow ${i} (${s.stream})`, transformOf(f), s);
  }
  for (const s of schemas) if (!covered.has(s.stream)) problems.push(`${where}: no data flow for ${s.stream}`);
}

// ARM template: literal columns, one table and one stream per schema file.
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
  checkArmRegion(t, where);
  const vars = t.variables || {};
  // A literal or a plain [variables('x')] reference.
  const value = (v) => {
    const m = /^\[variables\('([^']+)'\)\]$/.exec(String(v));
    return m ? vars[m[1]] : v;
  };
  const alerts = schemas.find((s) => s.table === ALERTS);
  if (alerts && vars.tableName !== alerts.table) problems.push(`${where}: tableName is ${vars.tableName}, not ${alerts.table}`);
  if (alerts && vars.streamName !== alerts.stream) problems.push(`${where}: streamName is ${vars.streamName}, not ${alerts.stream}`);

  const tables = new Map();
  for (const r of (t.resources || []).filter((x) => x.type === 'Microsoft.OperationalInsights/workspaces/tables')) {
    const sch = ((r.properties || {}).schema) || {};
    const name = value(sch.name);
    const m = /^\[format\('\{0\}\/\{1\}', parameters\('workspaceName'\), (?:'([^']+)'|variables\('([^']+)'\))\)\]$/.exec(r.name || '');
    const resourceTable = m ? (m[1] || vars[m[2]]) : undefined;
    if (resourceTable !== name) problems.push(`${where}: table resource ${r.name} declares the schema of ${name}`);
    if (tables.has(name)) problems.push(`${where}: table ${name} declared twice`);
    tables.set(name, sch);
  }
  for (const s of schemas) {
    if (!tables.has(s.table)) problems.push(`${where}: no table resource for ${s.table} (sources/schema/${s.file})`);
    else sameColumns(`${where} table ${s.table}`, tables.get(s.table).columns, s);
  }
  for (const name of tables.keys()) {
    if (!schemas.some((s) => s.table === name)) problems.push(`${where}: table ${name} has no schema file in sources/schema`);
  }

  const dcrs = (t.resources || []).filter((r) => r.type === 'Microsoft.Insights/dataCollectionRules');
  if (dcrs.length !== 1) {
    problems.push(`${where}: expected one data collection rule, found ${dcrs.length}`);
    return;
  }
  const dcr = dcrs[0];
  const decl = dcr.properties.streamDeclarations || {};
  for (const s of schemas) {
    if (!decl[s.stream]) problems.push(`${where}: the DCR does not declare ${s.stream} (sources/schema/${s.file})`);
    else sameColumns(`${where} DCR stream ${s.stream}`, decl[s.stream].columns, s);
  }
  for (const name of Object.keys(decl)) {
    if (!byStream.has(name)) problems.push(`${where}: the DCR declares ${name}, which no schema file describes`);
  }
  const deps = (dcr.dependsOn || []).join(' ');
  for (const s of schemas) {
    const ref = s.table === ALERTS ? "variables('tableName')" : `'${s.table}'`;
    if (!deps.includes(ref)) problems.push(`${where}: the DCR must depend on the table ${s.table}`);
  }
  checkFlows(`${where} DCR`, dcr.properties.dataFlows, (f) => (f.streams || []).map(value), (f) => value(f.outputStream),
    (f) => f.transformKql);
}

// The ARM template writes into an existing workspace, wherever it is: the DCR (and the DCE, created only with
// createDce) take the workspace's own region (reference(...).location), never the resource group's or a
// parameter; SENTINEL_DCE_URL is the DCE's endpoint with createDce, else the DCR's own. Each case of the if()
// is followed on its own.
const WS_LOCATION = /^\[reference\(resourceId\('Microsoft\.OperationalInsights\/workspaces', parameters\('workspaceName'\)\), '[0-9-]+', 'Full'\)\.location\]$/;
function armIf(expr) {  // "[if(c, a, b)]" -> {cond, yes, no}, split at top-level commas
  const m = /^\[if\((.*)\)\]$/.exec(String(expr || ''));
  if (!m) return null;
  const parts = [];
  let depth = 0;
  let inStr = false;
  let from = 0;
  for (let i = 0; i < m[1].length; i++) {
    const ch = m[1][i];
    if (ch === "'") inStr = !inStr;
    if (inStr) continue;
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) { parts.push(m[1].slice(from, i).trim()); from = i + 1; }
  }
  parts.push(m[1].slice(from).trim());
  return parts.length === 3 ? { cond: parts[0], yes: parts[1], no: parts[2] } : null;
}
function checkArmRegion(t, where) {
  const of = (type) => (t.resources || []).filter((r) => r.type === type);
  const [dce] = of('Microsoft.Insights/dataCollectionEndpoints');
  const [dcr] = of('Microsoft.Insights/dataCollectionRules');
  for (const [what, r] of [['DCR', dcr], ['DCE', dce]]) {
    if (!r) problems.push(`${where}: no ${what}`);
    else if (!WS_LOCATION.test(r.location || '')) problems.push(`${where}: the ${what}'s location is ${r.location}, not the workspace's (reference(<workspace>, ..., 'Full').location)`);
  }
  if (!dce || !dcr) return;
  if (!(t.parameters || {}).createDce || t.parameters.createDce.defaultValue !== false || dce.condition !== "[parameters('createDce')]") {
    problems.push(`${where}: the DCE must be optional (condition parameters('createDce'), default false)`);
  }
  const ep = armIf(((dcr.properties || {}).dataCollectionEndpointId));
  if (!ep || ep.cond !== "parameters('createDce')" || !ep.yes.includes("'Microsoft.Insights/dataCollectionEndpoints'") || ep.no !== 'null()') {
    problems.push(`${where}: the DCR must name the DCE only with createDce`);
  }
  const out = armIf(((t.outputs || {}).SENTINEL_DCE_URL || {}).value);
  if (!out || out.cond !== "parameters('createDce')" ||
      !/^reference\(resourceId\('Microsoft\.Insights\/dataCollectionEndpoints', variables\('dceName'\)\), '[0-9-]+'\)\.logsIngestion\.endpoint$/.test(out.yes) ||
      !/^reference\(resourceId\('Microsoft\.Insights\/dataCollectionRules', variables\('dcrName'\)\), '2023-03-11'\)\.endpoints\.logsIngestion$/.test(out.no)) {
    problems.push(`${where}: SENTINEL_DCE_URL must be the DCE's endpoint with createDce, else the DCR's own (endpoints.logsIngestion, API 2023-03-11)`);
  }
}

// Terraform: generated from the schema directory; check the generating expressions, then what they produce.
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
  const m = /^\$\{path\.module\}\/(.+)$/.exec(L.schema_dir || '');
  if (!m) {
    problems.push(`${where}: local.schema_dir must be "\${path.module}/<path to sources/schema>"`);
    return;
  }
  const target = path.resolve(dir, m[1]);
  if (!fs.existsSync(target) || fs.realpathSync(target) !== fs.realpathSync(schemaDir)) {
    problems.push(`${where}: local.schema_dir is ${path.relative(root, target)}, not sources/schema`);
    return;
  }
  const want = {
    schemas: '${{ for f in fileset(local.schema_dir, "*.json") : trimsuffix(f, ".json") => jsondecode(file("${local.schema_dir}/${f}")) }}',
    schema: `\${local.schemas["${ALERTS}"]}`,
    stream: '${local.schema.stream}',
    table: '${local.schema.table}',
    stream_columns: '${{ for t, s in local.schemas : s.stream => [for c in s.columns : { name = c.name, type = c.type }] }}',
  };
  for (const [k, v] of Object.entries(want)) {
    if (norm(L[k]) !== v) problems.push(`${where}: local.${k} must be ${v} (is ${norm(L[k])})`);
  }
  const tc = norm(L.table_columns);
  if (!tc.startsWith('${{ for t, s in local.schemas : t => [for c in s.columns : {') || !tc.includes('name = c.name') ||
      !tc.includes('type = c.type == "datetime" ? "dateTime" : c.type')) {
    problems.push(`${where}: local.table_columns must map every schema's columns, name and type (datetime -> dateTime), by table`);
  }
  const dcrs = Object.values(tf.resource.azurerm_monitor_data_collection_rule || {}).flat();
  if (dcrs.length !== 1) problems.push(`${where}: expected one data collection rule, found ${dcrs.length}`);
  for (const d of dcrs) {
    const dyn = d.dynamic || {};
    if ((d.stream_declaration || []).length || (d.data_flow || []).length) {
      problems.push(`${where}: stream declarations and data flows must be generated for every schema (dynamic blocks over local.schemas), not written by hand`);
    }
    const sd = (dyn.stream_declaration || [])[0] || {};
    const sdc = (sd.content || [])[0] || {};
    const col = (((sdc.dynamic || {}).column) || [])[0] || {};
    const colc = (col.content || [])[0] || {};
    if (sd.for_each !== '${local.schemas}' || sdc.stream_name !== '${stream_declaration.value.stream}') {
      problems.push(`${where}: the DCR must declare one stream per schema (dynamic "stream_declaration" over local.schemas, stream_name = its stream)`);
    }
    if (col.for_each !== '${local.stream_columns[stream_declaration.value.stream]}' || colc.name !== '${column.value.name}' ||
        colc.type !== '${column.value.type}') {
      problems.push(`${where}: DCR stream columns must be generated from local.stream_columns (name and type unchanged)`);
    }
    const df = (dyn.data_flow || [])[0] || {};
    const dfc = (df.content || [])[0] || {};
    if (df.for_each !== '${local.schemas}' || dfc.output_stream !== '${data_flow.value.stream}' ||
        JSON.stringify(dfc.streams) !== '["${data_flow.value.stream}"]') {
      problems.push(`${where}: one data flow per schema must carry its stream into its table (dynamic "data_flow" over local.schemas)`);
    }
    // The same transform runs for every stream: it must suit each.
    for (const s of schemas) checkTransform(`${where} data_flow (${s.stream})`, dfc.transform_kql, s);
  }
  // The alerts table was one resource before the tables were generated per schema file: an existing deployment
  // must keep it (and its rows), not destroy and recreate it.
  if (!tf.moved.some((b) => b.from === '${azapi_resource.table}' && b.to === `\${azapi_resource.table["${ALERTS}"]}`)) {
    problems.push(`${where}: no moved block from azapi_resource.table to azapi_resource.table["${ALERTS}"] (an existing alerts table would be recreated)`);
  }
  const tables = Object.values(tf.resource.azapi_resource || {}).flat()
    .filter((r) => String(r.type).startsWith('Microsoft.OperationalInsights/workspaces/tables@'));
  if (tables.length !== 1) problems.push(`${where}: expected one custom table resource (for_each over the schemas), found ${tables.length}`);
  for (const t of tables) {
    const s = ((t.body || {}).properties || {}).schema || {};
    if (t.for_each !== '${local.schemas}') problems.push(`${where}: the table resource must be for_each = local.schemas`);
    if (t.name !== '${each.value.table}' || s.name !== '${each.value.table}') problems.push(`${where}: each table must be named after its schema's table`);
    if (s.columns !== '${local.table_columns[each.key]}') problems.push(`${where}: each table's columns must be local.table_columns[each.key]`);
  }
}

(async () => {
  checkArm();
  await checkTerraform();
  if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`check_schema: ${problems.length} problem(s)`);
    process.exit(1);
  }
  const cols = schemas.map((s) => `${s.table} (${s.columns.length} columns)`).join(', ');
  console.log(`check_schema: ok (${cols}: ARM tables and streams equal the schema files, Terraform generates ` +
    'them from sources/schema; transforms analyse)');
})();
