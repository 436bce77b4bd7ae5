'use strict';
// Every table's schema: the files of sources/schema/ (each compiled into the connector, common/stream.cpp). The
// checks read them all from here, so a new schema file is checked against every template without a change here.
const fs = require('fs');
const path = require('path');
const { KUSTO_TYPE } = require('./kusto');

// [{file, table, stream, logType, description, columns: [{name, type, description}]}], sorted by file name.
// What the connector relies on is checked here: the file is named after its table, the table ends in _CL, the
// DCR stream is Custom-<table>, the Data Collector Log-Type (the table without _CL) is a valid one, every
// column has a known type, and TimeGenerated is a datetime column.
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
    out.push({ file: f, table: s.table, stream: s.stream, logType, description: s.description, columns: s.columns });
  }
  if (!out.length) problems.push('sources/schema: no schema file');
  return out;
}

module.exports = { loadSchemas };
