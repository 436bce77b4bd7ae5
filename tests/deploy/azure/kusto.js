'use strict';
// Microsoft's Kusto language service (npm @kusto/language-service-next, a Bridge.NET build of Kusto.Language)
// loaded into node, with the symbols a Sentinel workspace offers our queries: the shipper's table, the
// parser function and the Sentinel built-ins we use.
const path = require('path');

const pkg = path.dirname(require.resolve('@kusto/language-service-next/package.json'));
require(path.join(pkg, 'bridge.min.js'));
require(path.join(pkg, 'Kusto.Language.Bridge.min.js'));
/* global Kusto */
const K = Kusto.Language;

// Log Analytics column types (as in tables and DCR stream declarations) -> Kusto scalar type names.
const KUSTO_TYPE = {
  string: 'string', datetime: 'datetime', long: 'long', int: 'int', real: 'real',
  boolean: 'bool', dynamic: 'dynamic', guid: 'guid',
};

function kustoSchema(columns) {
  return '(' + columns.map((c) => {
    const t = KUSTO_TYPE[String(c.type).toLowerCase()];
    if (!t) throw new Error(`column ${c.name}: unknown type ${c.type}`);
    return `['${c.name}']:${t}`;
  }).join(', ') + ')';
}

// Sentinel's watchlist function: _GetWatchlist(alias) returns the watchlist's rows; SearchKey is the
// column every watchlist has (the columns of a particular list vary, and we use only SearchKey).
const SENTINEL_FUNCTIONS = [
  ['_GetWatchlist', '(watchlistAlias:string)',
   '{ datatable(SearchKey:string, WatchlistAlias:string, WatchlistName:string, WatchlistItem:dynamic, ' +
   'LastUpdatedTimeUTC:datetime, _DTItemId:string)[] }'],
];

class Workspace {
  constructor(tables) {
    this.tables = tables.map(([name, columns]) => new K.Symbols.TableSymbol.$ctor7(name, kustoSchema(columns), null));
    this.functions = SENTINEL_FUNCTIONS.map(([n, p, b]) => new K.Symbols.FunctionSymbol.$ctor16(n, p, b, null));
  }

  addFunction(name, body) {
    this.functions.push(new K.Symbols.FunctionSymbol.$ctor16(name, '()', `{\n${body}\n}`, null));
  }

  globals() {
    const db = new K.Symbols.DatabaseSymbol.$ctor3('workspace', null, [...this.tables, ...this.functions], false);
    return K.GlobalState.Default.WithDatabase(db);
  }

  // {errors: [{message, line, column}], columns: [names of the result's columns] }
  analyse(query) {
    const code = K.KustoCode.ParseAndAnalyze(query, this.globals());
    const diags = code.GetDiagnostics();
    const errors = [];
    for (let i = 0; i < diags.Count; i++) {
      const d = diags.getItem(i);
      if (String(d.Severity) !== 'Error') continue;
      const before = query.slice(0, d.Start).split('\n');
      errors.push({ message: d.Message, line: before.length, column: before[before.length - 1].length + 1 });
    }
    const columns = [];
    const rt = code.ResultType;
    if (rt && rt.Columns) {
      for (let i = 0; i < rt.Columns.Count; i++) columns.push(rt.Columns.getItem(i).Name);
    }
    return { errors, columns };
  }
}

module.exports = { Workspace, KUSTO_TYPE };
