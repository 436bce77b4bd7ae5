'use strict';
// Terraform files -> JSON with HashiCorp's own HCL parser (npm @cdktf/hcl2json, hcl2json compiled to wasm).
const fs = require('fs');
const path = require('path');
const { parse } = require('@cdktf/hcl2json');

// {file: parsed JSON} for every .tf in dir; throws with the parser's message (file:line,col) on a syntax error.
async function parseDir(dir) {
  const out = {};
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.tf')).sort()) {
    out[f] = await parse(f, fs.readFileSync(path.join(dir, f), 'utf8'));
  }
  return out;
}

// Merge the blocks of every file: {resource: {type: {name: [body]}}, variable: {...}, output: {...}, locals: [...], moved: [...]}
function merged(files) {
  const m = { resource: {}, data: {}, variable: {}, output: {}, locals: [], terraform: [], moved: [] };
  for (const doc of Object.values(files)) {
    for (const [type, byName] of Object.entries(doc.resource || {})) {
      m.resource[type] = Object.assign(m.resource[type] || {}, byName);
    }
    for (const [type, byName] of Object.entries(doc.data || {})) m.data[type] = Object.assign(m.data[type] || {}, byName);
    Object.assign(m.variable, doc.variable || {});
    Object.assign(m.output, doc.output || {});
    m.locals.push(...(doc.locals || []));
    m.terraform.push(...(doc.terraform || []));
    m.moved.push(...(doc.moved || []));
  }
  m.local = Object.assign({}, ...m.locals);
  return m;
}

module.exports = { parseDir, merged };
