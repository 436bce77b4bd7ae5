#!/usr/bin/env node
'use strict';
// Checks deploy/azure/terraform without Azure: every .tf parses (HashiCorp's HCL parser via npm), azurerm is
// pinned to 4.x, no deprecated resource type or argument is used, every variable has a description and (unless
// boolean) a validation, every output a description, and the outputs cover the compose .env keys.
// Usage: check_hcl.js <repository root>. Exit 1 on any problem.
const fs = require('fs');
const path = require('path');
const { parseDir, merged } = require('./terraform');

const root = path.resolve(process.argv[2] || path.join(__dirname, '../../..'));
const dir = path.join(root, 'deploy/azure/terraform');

// Retired or superseded in azurerm 4.x (or by Azure itself).
const DEPRECATED_TYPES = ['azurerm_function_app', 'azurerm_function_app_slot', 'azurerm_app_service',
  'azurerm_app_service_plan', 'azurerm_app_service_slot', 'azurerm_redis_cache', 'azurerm_redis_enterprise_cluster',
  'azurerm_log_analytics_data_export_rule_v1', 'azurerm_monitor_diagnostic_setting_v1'];
const DEPRECATED_ARGS = { azurerm_key_vault: ['enable_rbac_authorization'], azurerm_storage_container: ['storage_account_name'],
  azurerm_storage_share: ['storage_account_name'], azurerm_log_analytics_workspace: ['local_authentication_disabled'] };
const ENV_OUTPUTS = ['SENTINEL_DCE_URL', 'SENTINEL_DCR_ID', 'SENTINEL_STREAM', 'AZURE_TENANT_ID'];

const first = (b) => (Array.isArray(b) ? b[0] : b) || {};
const bodies = (tf, type) => Object.values(tf.resource[type] || {}).flat();

// "${c ? a : b}" -> {cond, yes, no} (top level only), or null: lets a check follow each case of a conditional.
function ternary(expr) {
  const e = String(expr || '').replace(/^\$\{/, '').replace(/\}$/, '').trim();
  let depth = 0;
  let q = -1;
  let inStr = false;
  for (let i = 0; i < e.length; i++) {
    const ch = e[i];
    if (ch === '"' && e[i - 1] !== '\\') inStr = !inStr;
    if (inStr) continue;
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (depth === 0 && ch === '?' && q < 0) q = i;
    else if (depth === 0 && ch === ':' && q >= 0) return { cond: e.slice(0, q).trim(), yes: e.slice(q + 1, i).trim(), no: e.slice(i + 1).trim() };
  }
  return null;
}

// What the deployment defends (docs/azure.md, "What the templates defend"); each rule can fail
// (negative_test.sh breaks each one).
function hardening(tf, problems) {
  // One coordinator per plan: the hosting plan must not run more instances than the design uses.
  for (const app of bodies(tf, 'azurerm_function_app_flex_consumption')) {
    if (app.maximum_instance_count !== 1) {
      problems.push(`Function App: maximum_instance_count is ${app.maximum_instance_count}, must be 1 (one coordinator; the lowest Flex Consumption allows)`);
    }
    const ready = (app.always_ready || []).reduce((a, r) => a + Number(r.instance_count || 0), 0);
    if (ready > 1) problems.push(`Function App: ${ready} always-ready instances exceed the cap of 1`);
  }
  region(tf, problems);
  sharedKey(tf, problems);
  redisEntra(tf, problems);
  networkRules(tf, problems);
  for (const app of bodies(tf, 'azurerm_container_app')) {
    const t = first(app.template);
    if (t.max_replicas !== 1 || t.min_replicas !== 1) {
      problems.push(`Container App: replicas ${t.min_replicas}..${t.max_replicas}, must be exactly 1 (Redis and the coordinator live in the replica)`);
    }
  }
}

// No workspace shared key: the workspace this deployment creates accepts Entra only, which holds because the
// connector is always in logs-ingestion mode here (the legacy data-collector mode would need the key), and the
// Container Apps environment, which would otherwise write its logs with that key, sends them through a
// diagnostic setting instead.
function sharedKey(tf, problems) {
  const mode = (tf.local.connector_settings || {}).SENTINEL_MODE;
  for (const w of bodies(tf, 'azurerm_log_analytics_workspace')) {
    if (mode !== 'logs-ingestion') problems.push(`SENTINEL_MODE is ${mode}: the workspace's shared key rule below assumes logs-ingestion`);
    if (w.local_authentication_enabled !== false) {
      problems.push(`the workspace allows shared-key (local) authentication: local_authentication_enabled is ${w.local_authentication_enabled}, must be false`);
    }
  }
  for (const env of bodies(tf, 'azurerm_container_app_environment')) {
    if (env.logs_destination !== 'azure-monitor' || 'log_analytics_workspace_id' in env) {
      problems.push(`the Container Apps environment must send its logs through Azure Monitor (logs_destination = "azure-monitor", no log_analytics_workspace_id): the log-analytics destination uses the workspace's shared key`);
    }
    const diag = bodies(tf, 'azurerm_monitor_diagnostic_setting')
      .find((d) => d.target_resource_id === '${azurerm_container_app_environment.etp[0].id}' && d.log_analytics_workspace_id === '${local.workspace_id}');
    const cats = new Set(((diag || {}).enabled_log || []).map((l) => l.category));
    if (!cats.has('ContainerAppConsoleLogs') || !cats.has('ContainerAppSystemLogs')) {
      problems.push('no diagnostic setting sends the Container Apps environment\'s ContainerAppConsoleLogs and ContainerAppSystemLogs to the workspace');
    }
  }
}

// Azure Managed Redis with Entra (redis_authentication = "entra", the default): no access key on the database,
// the connector's identity holds a data access policy, and the app reads REDIS_AUTH=entra, REDIS_USERNAME = the
// identity's object id and a REDIS_URL without a key; "access_key" keeps the key inside the redis-url secret.
function redisEntra(tf, problems) {
  const v = first(tf.variable.redis_authentication);
  if (v.default !== 'entra' || !JSON.stringify(v.validation || '').includes('[\\"entra\\", \\"access_key\\"]')) {
    problems.push('variable redis_authentication: must default to entra and accept only entra or access_key');
  }
  for (const r of bodies(tf, 'azurerm_managed_redis')) {
    if (first(r.default_database).access_keys_authentication_enabled !== '${var.redis_authentication == "access_key"}') {
      problems.push('Managed Redis: access keys must be enabled only with redis_authentication = "access_key"');
    }
  }
  const apa = bodies(tf, 'azurerm_managed_redis_access_policy_assignment')[0] || {};
  if (apa.object_id !== '${azurerm_user_assigned_identity.connector.principal_id}' || apa.managed_redis_id !== '${azurerm_managed_redis.etp[0].id}' ||
      !String(apa.count).includes('var.redis_authentication == "entra"')) {
    problems.push('Managed Redis: with redis_authentication = "entra" the connector\'s identity (principal_id) needs an access policy assignment');
  }
  const rs = String(tf.local.func_redis_settings || '');
  const from = rs.indexOf('var.redis_authentication == "entra" ? tomap({');
  const to = rs.indexOf('}) : tomap({', from);
  const body = from >= 0 && to > from ? rs.slice(from, to) : '';
  const url = (/REDIS_URL\s*=\s*"([^"]*)"/.exec(body) || [])[1] || '';
  if (!/REDIS_AUTH\s*=\s*"entra"/.test(body) || !/REDIS_USERNAME\s*=\s*azurerm_user_assigned_identity\.connector\.principal_id\b/.test(body) ||
      !/^rediss:\/\/\$\{[^@]*\}:\$\{[^@]*\}\/0$/.test(url) || /access_key/.test(url)) {
    problems.push('local.func_redis_settings: with entra the app needs REDIS_AUTH = "entra", REDIS_USERNAME = the identity\'s principal_id and REDIS_URL = rediss://<host>:<port>/0 without a key');
  }
  if ((tf.local.connector_settings || {}).AZURE_CLIENT_ID !== '${azurerm_user_assigned_identity.connector.client_id}') {
    problems.push('AZURE_CLIENT_ID must name the connector\'s identity (the one Redis grants access)');
  }
  const app = bodies(tf, 'azurerm_function_app_flex_consumption')[0] || {};
  if (!String(app.app_settings || '').includes('local.func_redis_settings') || /REDIS_URL\s*=/.test(String(app.app_settings || ''))) {
    problems.push('the Function App must take REDIS_* from local.func_redis_settings (and set REDIS_URL nowhere else)');
  }
  if (!/redis_authentication == "access_key"/.test(String(tf.local.redis_url_secret || '')) ||
      !String(tf.local.secret_names || '').includes('local.redis_url_secret')) {
    problems.push('the redis-url secret (which carries the access key) must exist only with redis_authentication = "access_key"');
  }
}

// Evaluates a boolean HCL expression of the network locals for one deployment case ({compute, subnet, ips,
// subnets}); throws on anything it does not know, so a rewritten expression fails the check instead of passing.
function evalCase(tf, expr, c) {
  let e = String(expr).replace(/^\$\{|\}$/g, '');
  e = e.replace(/\blocal\.func_vnet\b/g, () => `(${evalCase(tf, tf.local.func_vnet, c)})`)
    .replace(/\bvar\.function_package_path\b/g, JSON.stringify(c.pkg || null))
    .replace(/\blocal\.func\b/g, JSON.stringify(c.compute === 'function_app'))
    .replace(/\bvar\.compute\b/g, JSON.stringify(c.compute))
    .replace(/\bvar\.function_subnet_id\b/g, JSON.stringify(c.subnet))
    .replace(/\blength\(var\.allowed_ip_ranges\)/g, String(c.ips))
    .replace(/\blength\(var\.allowed_subnet_ids\)/g, String(c.subnets));
  if (/[A-Za-z_]+\.[A-Za-z_]/.test(e.replace(/"[^"]*"/g, ''))) throw new Error(`cannot evaluate ${expr}`);
  return Boolean(Function(`"use strict"; return (${e});`)());
}

// Key Vault and storage deny by default where the deployment can still reach them, and stay open where it could
// not start otherwise (network.tf): every case of compute x VNet subnet x allow-list is evaluated.
function networkRules(tf, problems) {
  const kv = first(first(Object.values(tf.resource.azurerm_key_vault || {})[0]).network_acls);
  const funcSa = first(first((tf.resource.azurerm_storage_account || {}).func).network_rules);
  const acaSa = first(first((tf.resource.azurerm_storage_account || {}).redis).network_rules);
  const app = bodies(tf, 'azurerm_function_app_flex_consumption')[0] || {};
  if (kv.bypass !== 'AzureServices' || kv.ip_rules !== '${var.allowed_ip_ranges}' || kv.virtual_network_subnet_ids !== '${local.network_subnet_ids}') {
    problems.push('Key Vault: network_acls must bypass AzureServices and allow var.allowed_ip_ranges and local.network_subnet_ids');
  }
  for (const [what, sa] of [['the Function App storage', funcSa], ['the Redis storage', acaSa]]) {
    if (JSON.stringify(sa.bypass) !== '["AzureServices"]' || sa.ip_rules !== '${local.storage_ip_rules}') {
      problems.push(`${what}: network_rules must bypass AzureServices and allow local.storage_ip_rules`);
    }
  }
  const sn = String(tf.local.network_subnet_ids || '');
  if (!sn.includes('var.allowed_subnet_ids') || !sn.includes('var.function_subnet_id')) {
    problems.push('local.network_subnet_ids must hold var.allowed_subnet_ids and the Function App\'s subnet');
  }
  if (app.virtual_network_subnet_id !== '${local.func_vnet ? var.function_subnet_id : null}') {
    problems.push('Function App: virtual_network_subnet_id must be var.function_subnet_id when given');
  }
  if (first(app.site_config).vnet_route_all_enabled !== '${local.func_vnet}') {
    problems.push('Function App: VNet-integrated, all its traffic must leave through the subnet (vnet_route_all_enabled = local.func_vnet)');
  }
  if (funcSa.virtual_network_subnet_ids !== '${local.network_subnet_ids}') problems.push('the Function App storage must allow local.network_subnet_ids');
  const deny = (a) => (ternary(a.default_action) || {}).cond;
  const kvDeny = deny(kv) === 'local.key_vault_deny' && tf.local.key_vault_deny;
  const saDeny = deny(funcSa) === 'local.func_storage_deny' && tf.local.func_storage_deny;
  if (!kvDeny) problems.push(`Key Vault: default_action must be local.key_vault_deny ? "Deny" : "Allow" (is ${kv.default_action})`);
  if (!saDeny) problems.push(`the Function App storage: default_action must be local.func_storage_deny ? "Deny" : "Allow" (is ${funcSa.default_action})`);
  if (acaSa.default_action !== 'Allow') problems.push('the Redis storage of Container Apps must stay open (the platform mounts the share from outside any network here)');
  if (!kvDeny || !saDeny) return;
  // [case, vault denies?, function storage denies?]
  const cases = [
    [{ compute: 'container_apps', subnet: null, ips: 0, subnets: 0 }, false, false],
    [{ compute: 'container_apps', subnet: null, ips: 2, subnets: 1 }, false, false],
    [{ compute: 'container_apps', subnet: '/s', ips: 1, subnets: 0 }, false, false],
    [{ compute: 'function_app', subnet: null, ips: 0, subnets: 0 }, false, false],
    [{ compute: 'function_app', subnet: null, ips: 1, subnets: 1 }, false, false],
    [{ compute: 'function_app', subnet: '/s', ips: 0, subnets: 0 }, true, true],
    [{ compute: 'function_app', subnet: '/s', ips: 1, subnets: 0, pkg: 'f.zip' }, true, false],
    [{ compute: 'function_app', subnet: null, ips: 1, subnets: 0, pkg: 'f.zip' }, false, false],
    [{ compute: 'none', subnet: null, ips: 0, subnets: 0 }, false, false],
    [{ compute: 'none', subnet: null, ips: 1, subnets: 0 }, true, false],
    [{ compute: 'none', subnet: null, ips: 0, subnets: 1 }, true, false],
  ];
  for (const [c, wantKv, wantSa] of cases) {
    try {
      const gotKv = evalCase(tf, tf.local.key_vault_deny, c);
      const gotSa = evalCase(tf, tf.local.func_storage_deny, c);
      const label = `compute=${c.compute}, function_subnet_id=${c.subnet ? 'set' : 'null'}, ${c.ips} IP range(s), ${c.subnets} subnet(s)` +
        `${c.pkg ? ', package deployed by Terraform' : ''}`;
      if (gotKv !== wantKv) problems.push(`Key Vault with ${label}: ${gotKv ? 'denies' : 'allows'} by default, must ${wantKv ? 'deny' : 'allow (the deployment could not start otherwise)'}`);
      if (gotSa !== wantSa) problems.push(`the Function App storage with ${label}: ${gotSa ? 'denies' : 'allows'} by default, must ${wantSa ? 'deny' : 'allow'}`);
    } catch (e) {
      problems.push(`network locals: ${e.message}`);
      return;
    }
  }
}

// The DCR (and the DCE, when made) in the workspace's region, for both cases: a new workspace (made in
// var.location, the resource group's region) and an existing one (its own region, read by id). The shipper posts
// to the DCE when one is made, else to the DCR's own logs ingestion endpoint.
function region(tf, problems) {
  const loc = ternary(tf.local.workspace_location);
  if (!loc || loc.cond !== 'var.existing_workspace_id != null') {
    problems.push('local.workspace_location must be var.existing_workspace_id != null ? <the existing workspace\'s location> : <the new one\'s>');
  } else {
    const ws = first((tf.data.azapi_resource || {}).existing_workspace);
    if (loc.yes !== 'data.azapi_resource.existing_workspace[0].location' || ws.resource_id !== '${var.existing_workspace_id}' ||
        ws.count !== '${var.existing_workspace_id != null ? 1 : 0}' || !String(ws.type).startsWith('Microsoft.OperationalInsights/workspaces@')) {
      problems.push(`existing workspace: the DCR region must be read from the workspace itself (data.azapi_resource.existing_workspace by var.existing_workspace_id), not ${loc.yes}`);
    }
    const law = first((tf.resource.azurerm_log_analytics_workspace || {}).etp);
    if (![String(law.location).replace(/^\$\{|\}$/g, ''), 'azurerm_log_analytics_workspace.etp[0].location'].includes(loc.no)) {
      problems.push(`new workspace: the DCR region ${loc.no} is not where the workspace is made (${law.location})`);
    }
  }
  const dcr = first(Object.values(tf.resource.azurerm_monitor_data_collection_rule || {})[0]);
  const dce = first(Object.values(tf.resource.azurerm_monitor_data_collection_endpoint || {})[0]);
  for (const [what, r] of [['DCR', dcr], ['DCE', dce]]) {
    if (r.location !== '${local.workspace_location}') problems.push(`the ${what} is in ${r.location}, not the workspace's region (local.workspace_location)`);
  }
  if (!tf.variable.create_dce || dce.count !== '${var.create_dce ? 1 : 0}') problems.push('the DCE must be optional (count = var.create_dce ? 1 : 0)');
  if (dcr.data_collection_endpoint_id !== '${var.create_dce ? azurerm_monitor_data_collection_endpoint.etp[0].id : null}') {
    problems.push('the DCR must name the DCE only when one is made');
  }
  const ep = ternary(tf.local.logs_ingestion_endpoint);
  const dcrEp = first((tf.data.azapi_resource || {}).dcr_endpoint);
  if (!ep || ep.cond !== 'var.create_dce' || ep.yes !== 'azurerm_monitor_data_collection_endpoint.etp[0].logs_ingestion_endpoint' ||
      ep.no !== 'data.azapi_resource.dcr_endpoint.output.logs_ingestion') {
    problems.push('local.logs_ingestion_endpoint must be the DCE\'s with create_dce, else the DCR\'s own (data.azapi_resource.dcr_endpoint)');
  }
  if (dcrEp.resource_id !== '${azurerm_monitor_data_collection_rule.etp.id}' ||
      JSON.stringify(dcrEp.response_export_values || '').indexOf('properties.endpoints.logsIngestion') < 0) {
    problems.push('data.azapi_resource.dcr_endpoint must read properties.endpoints.logsIngestion of the DCR');
  }
  const uses = [['local.connector_settings SENTINEL_DCE_URL', (tf.local.connector_settings || {}).SENTINEL_DCE_URL],
    ['output SENTINEL_DCE_URL', first(tf.output.SENTINEL_DCE_URL).value]];
  for (const [where, v] of uses) if (v !== '${local.logs_ingestion_endpoint}') problems.push(`${where} is ${v}, not local.logs_ingestion_endpoint`);
  if (!String(first(tf.output.dotenv).value).includes('SENTINEL_DCE_URL=${local.logs_ingestion_endpoint}')) {
    problems.push('output dotenv: SENTINEL_DCE_URL must be local.logs_ingestion_endpoint');
  }
}

(async () => {
  const problems = [];
  let files;
  try {
    files = await parseDir(dir);
  } catch (e) {
    console.error(`deploy/azure/terraform: HCL does not parse: ${e.message || e}`);
    process.exit(1);
  }
  const tf = merged(files);
  const azurerm = tf.terraform.flatMap((t) => t.required_providers || []).map((p) => p.azurerm).find(Boolean);
  const pin = /^~>\s*4\.(\d+)/.exec((azurerm || {}).version || '');
  if (!pin) problems.push('azurerm must be pinned to 4.x (~> 4.y)');
  // Arguments and resources used below need these versions: azurerm_managed_redis 4.50, its AOF setting 4.54,
  // maximum_instance_count = 1 on Flex Consumption 4.58, azurerm_managed_redis_access_policy_assignment 4.60.
  else if (Number(pin[1]) < 60) problems.push(`azurerm is pinned to ~> 4.${pin[1]}; the configuration needs ~> 4.60`);
  for (const type of Object.keys(tf.resource)) {
    if (DEPRECATED_TYPES.includes(type)) problems.push(`deprecated resource type ${type}`);
    for (const arg of DEPRECATED_ARGS[type] || []) {
      for (const [name, bodies] of Object.entries(tf.resource[type])) {
        if (bodies.some((b) => arg in b)) problems.push(`${type}.${name}: deprecated argument ${arg}`);
      }
    }
  }
  for (const [name, [v]] of Object.entries(tf.variable)) {
    if (!v.description || v.description.length < 10) problems.push(`variable ${name}: no description`);
    if (v.type !== '${bool}' && !v.validation) problems.push(`variable ${name}: no validation`);
  }
  for (const [name, [o]] of Object.entries(tf.output)) {
    if (!o.description) problems.push(`output ${name}: no description`);
  }
  for (const k of ENV_OUTPUTS) if (!tf.output[k]) problems.push(`no output ${k} (the compose .env needs it)`);
  // Every setting handed to the connector must be one it reads (a typo would be silently ignored in Azure).
  const known = new Set([...fs.readFileSync(path.join(root, 'common/config.cpp'), 'utf8').matchAll(/"([A-Z][A-Z0-9_]+)"/g)]
    .map((m) => m[1]));
  const platform = (k) => /^(AzureWebJobs|FUNCTIONS_|WEBSITE_|APPLICATIONINSIGHTS_)/.test(k);
  const settings = new Map();  // name -> where
  for (const k of Object.keys(tf.local.connector_settings || {})) settings.set(k, 'local.connector_settings');
  for (const [, k] of String(tf.local.aca_roles || '').matchAll(/\b([A-Z][A-Z0-9_]+)\s*=/g)) settings.set(k, 'local.aca_roles');
  for (const [, k] of String(tf.local.func_redis_settings || '').matchAll(/\b([A-Z][A-Z0-9_]+)\s*=/g)) settings.set(k, 'local.func_redis_settings');
  for (const app of Object.values(tf.resource.azurerm_function_app_flex_consumption || {}).flat()) {
    for (const [, k] of String(app.app_settings || '').matchAll(/^\s*([A-Za-z][A-Za-z0-9_]+)\s*=/gm)) settings.set(k, 'app_settings');
  }
  for (const app of Object.values(tf.resource.azurerm_container_app || {}).flat()) {
    for (const [, k] of JSON.stringify(app.template || '').matchAll(/\b(REDIS_URL|METRICS_PORT|ETP_API_KEY)\b/g)) settings.set(k, 'container env');
  }
  for (const o of tf.output.dotenv || []) {
    for (const [, k] of String(o.value).matchAll(/"([A-Z][A-Z0-9_]+)=/g)) settings.set(k, 'output dotenv');
  }
  if (settings.size < 10) problems.push(`only ${settings.size} connector settings found; the checker no longer sees them`);
  for (const [k, where] of settings) {
    if (!known.has(k) && !platform(k)) problems.push(`${where}: ${k} is not a setting etp2sentinel reads (common/config.cpp)`);
  }
  hardening(tf, problems);
  if (!tf.resource.azurerm_function_app_flex_consumption) problems.push('no Flex Consumption Function App');
  if (!tf.resource.azurerm_container_app) problems.push('no Container App');
  if (problems.length) {
    for (const p of problems) console.error(`deploy/azure/terraform: ${p}`);
    process.exit(1);
  }
  const n = Object.values(tf.resource).reduce((a, byName) => a + Object.keys(byName).length, 0);
  console.log(`check_hcl: ok (${Object.keys(files).length} files, ${n} resources, ${Object.keys(tf.variable).length} variables, ` +
    `${settings.size} connector settings all known: ${[...settings.keys()].sort().join(' ')})`);
})();
