'use strict';
// Every table's schema: the files of sources/schema/ (each compiled into the connector, common/stream.cpp). The
// checks read them all from here, so a new schema file is checked against every template without a change here.
const fs = require('fs');
const path = require('path');
const { KUSTO_TYPE } = require('./kusto');

// Property names the HTTP Data Collector API refuses in a record (the whole post fails); TimeGenerated is sent
// under its own column's name instead (the time-generated-field header), so only the others are forbidden here.
const RESERVED = ['tenant', 'rawdata'];

// The column whose value the Data Collector API is told to use as TimeGenerated: the same rule as
// common/stream.cpp (an explicit time_generated_column, else the datetime column read from TimeGenerated's source).
function timeGeneratedColumn(s) {
  const tg = s.columns.find((c) => c.name === 'TimeGenerated');
  if (s.time_generated_column !== undefined) {
    const c = s.columns.find((x) => x.name === s.time_generated_column);
    return c && c.type === 'datetime' && c !== tg ? c.name : undefined;
  }
  const c = tg && typeof tg.source === 'string' && s.columns.find((x) => x !== tg && x.type === 'datetime' && x.source === tg.source);
  return c ? c.name : undefined;
}

// [{file, table, stream, logType, timeColumn, description, columns: [{name, type, description}]}], sorted by file name.
// What the connector relies on is checked here: the file is named after its table, the table ends in _CL, the
// DCR stream is Custom-<table>, the Data Collector Log-Type (the table without _CL) is a valid one, every
// column has a known type, TimeGenerated is a datetime column, no column has a name the Data Collector API reserves,
// and a column carries the record time for that API.
function loadSchemas(root, problems) {
  const dir = path.join(root, 'sources/schema');
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const where = `sources/schema/${f}`;
    let s;
    try {
      s = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    } catch (e) {
      problems.push(`${where}: JSON does not parse: ${e.message}`);
      continue;
    }
    if (typeof s.table !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*_CL$/.test(s.table)) {
      problems.push(`${where}: table must be a name ending in _CL`);
      continue;
    }
    if (`${s.table}.json` !== f) problems.push(`${where}: the file must be named after its table (${s.table}.json)`);
    if (s.stream !== `Custom-${s.table}`) problems.push(`${where}: stream must be Custom-${s.table}`);
    const logType = s.table.slice(0, -3);
    if (!/^[A-Za-z0-9_]{1,100}$/.test(logType)) problems.push(`${where}: Log-Type ${logType} is not a valid Data Collector Log-Type`);
    if (!Array.isArray(s.columns) || !s.columns.length) {
      problems.push(`${where}: no columns`);
      continue;
    }
    for (const c of s.columns) {
      if (typeof c.name !== 'string' || !KUSTO_TYPE[String(c.type).toLowerCase()]) problems.push(`${where}: column ${c.name}: bad name or type ${c.type}`);
    }
    const tg = s.columns.find((c) => c.name === 'TimeGenerated');
    if (!tg || tg.type !== 'datetime') problems.push(`${where}: every table needs a datetime TimeGenerated column`);
    for (const c of s.columns) {
      if (RESERVED.includes(String(c.name).toLowerCase())) problems.push(`${where}: column ${c.name} is reserved by the Data Collector API`);
    }
    const timeColumn = timeGeneratedColumn(s);
    if (!timeColumn) {
      problems.push(`${where}: no column carries the record time in legacy mode (set time_generated_column to a datetime column, ` +
        'or give one the same source as TimeGenerated)');
    }
    out.push({ file: f, table: s.table, stream: s.stream, logType, timeColumn, description: s.description, columns: s.columns });
  }
  if (!out.length) problems.push('sources/schema: no schema file');
  return out;
}

// The columns of the same table as the legacy HTTP Data Collector API creates it (a classic custom table, also
// after a migration to DCR-based): TimeGenerated as is, every other column with its type's suffix - string _s,
// datetime _t, numbers _d (real), boolean _b, guid _g (stored as a string), dynamic _s (nested JSON as text).
const DC_SUFFIX = { string: ['_s', 'string'], datetime: ['_t', 'datetime'], long: ['_d', 'real'], int: ['_d', 'real'],
  real: ['_d', 'real'], boolean: ['_b', 'boolean'], guid: ['_g', 'string'], dynamic: ['_s', 'string'] };
function dataCollectorColumns(columns) {
  return columns.map((c) => {
    if (c.name === 'TimeGenerated') return { name: c.name, type: c.type };
    const [suffix, type] = DC_SUFFIX[String(c.type).toLowerCase()];
    return { name: c.name + suffix, type };
  });
}

module.exports = { loadSchemas, dataCollectorColumns };
