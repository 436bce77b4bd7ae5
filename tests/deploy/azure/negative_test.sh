#!/usr/bin/env bash
# The Azure checks must be able to fail. Copies the schema and deploy/ into a scratch tree, breaks one thing at a
# time, and requires the matching check to fail naming the problem. Usage: negative_test.sh <repository root>.
set -euo pipefail
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r=$tmp/r

fresh() {
  rm -rf "$r"
  mkdir -p "$r/sources" "$r/common"
  cp -r "$src/sources/schema" "$r/sources/"
  cp "$src/common/config.cpp" "$r/common/"
  cp -r "$src/deploy" "$r/"
}
# expect_fail <check script> <text its output must contain> <what was broken>
expect_fail() {
  local out
  if out=$(node "$here/$1" "$r" 2>&1); then
    echo "FAIL: $1 accepted $3"
    exit 1
  fi
  if ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: $1 rejected $3, but without '$2':"
    echo "$out"
    exit 1
  fi
  echo "ok: $1 rejects $3"
}
edit() { # edit <file> <python expression over s>
  python3 - "$r/$1" "$2" <<'PY'
import sys
p, expr = sys.argv[1], sys.argv[2]
s = open(p, encoding="utf-8").read()
t = eval(expr)
if t == s:
    sys.exit("edit changed nothing in " + p)
open(p, "w", encoding="utf-8").write(t)
PY
}

fresh
for c in check_sentinel.js check_schema.js check_hcl.js; do node "$here/$c" "$r" >/dev/null; done
echo "ok: the untouched copy passes every check"

fresh; edit deploy/sentinel/parsers/FireEyeETPAlerts.yaml 's.replace("tolower(RcptTo)", "tolower(RecipientTo)")'
expect_fail check_sentinel.js "'RecipientTo' does not refer to any known column" "a wrong column name in the parser"

fresh; edit deploy/sentinel/analytics/FireEyeETP-SenderManyRecipients.yaml 's.replace("by SenderMailFromAddress, SenderDomain", "by SenderMailFrom, SenderDomain")'
expect_fail check_sentinel.js "'SenderMailFrom' does not refer to any known column" "a wrong column name in an analytics rule"

fresh; edit deploy/sentinel/hunting/FireEyeETP-NewSenderDomains.yaml 's.replace("| summarize\n", "| summarize by (\n", 1)'
expect_fail check_sentinel.js "KQL error" "a KQL syntax error in a hunting query"

fresh; edit deploy/sentinel/workbooks/FireEyeETPAlerts.json 's.replace("dcount(AlertId) by ThreatType", "dcount(AlertId) by ThreatType |")'
expect_fail check_sentinel.js "KQL error" "a KQL syntax error in the workbook"

fresh; edit deploy/sentinel/analytics/FireEyeETP-VipRecipient.yaml 's.replace("columnName: SrcIpAddr", "columnName: SourceAddress")'
expect_fail check_sentinel.js "refers to SourceAddress, which the query does not return" "an entity mapped to a column the rule does not return"

fresh; edit deploy/sentinel/analytics/FireEyeETP-ConnectorStalled.yaml 's.replace("connectorId: Etp2Sentinel", "connectorId: FireEyeETP")'
expect_fail check_sentinel.js "names FireEyeETP, which deploy/sentinel/dataconnectors does not define" "a rule requiring an undefined data connector"

fresh; edit deploy/sentinel/dataconnectors/Etp2Sentinel_DataConnector.json 's.replace("by bin(EventEndTime, 1d), Direction", "by bin(EventEndTime, 1d), Direktion")'
expect_fail check_sentinel.js "'Direktion' does not refer to any known column" "a wrong column in a data connector sample query"

fresh; edit sources/schema/FireEyeETPAlerts_CL.json 's.replace("\"EmailStatus\"", "\"DeliveryStatus\"")'
expect_fail check_sentinel.js 'column_ifexists("EmailStatus") names no column of FireEyeETPAlerts_CL' "a parser reading a column the shipper renamed"
expect_fail check_schema.js "column 9 is EmailStatus, the shipper sends DeliveryStatus" "an ARM template behind the shipper's schema"

fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("\"name\": \"Subject\"", "\"name\": \"Subjekt\"", 1)'
expect_fail check_schema.js "column 21 is Subjekt, the shipper sends Subject" "a wrong column name in the ARM table"

fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("{\n              \"name\": \"LegacyId\",\n              \"type\": \"long\"", "{\n              \"name\": \"LegacyId\",\n              \"type\": \"string\"")'
expect_fail check_schema.js "column LegacyId has type string, the shipper sends long" "a wrong column type in the ARM stream"

fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("\"transformKql\": \"source\"", "\"transformKql\": \"source | extend TimeGenerated = now()\"")'
expect_fail check_schema.js "uses now()" "a DCR transform that replaces the vendor time"

fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("parameters(\x27workspaceName\x27), variables(\x27tableName\x27))]", "parameters(\x27workspace\x27), variables(\x27tableName\x27))]", 1)'
expect_fail check_schema.js "parameters('workspace') is not defined" "an ARM expression naming an undefined parameter"

fresh; edit deploy/azure/terraform/locals.tf 's.replace("../../../sources/schema\"", "../arm\"")'
expect_fail check_schema.js "local.schema_dir is deploy/azure/arm, not sources/schema" "Terraform reading another schema directory"

fresh; edit deploy/azure/terraform/ingestion.tf 's.replace("output_stream = data_flow.value.stream", "output_stream = local.stream")'
expect_fail check_schema.js "one data flow per schema must carry its stream into its table" "a Terraform data flow into the wrong table"

fresh; edit deploy/azure/terraform/ingestion.tf 's.replace("to   = azapi_resource.table[\"FireEyeETPAlerts_CL\"]", "to   = azapi_resource.table[\"FireEyeETPAlert_CL\"]")'
expect_fail check_schema.js "no moved block from azapi_resource.table" "Terraform that would recreate an existing alerts table"

# Every schema file, not only the alerts': a new one must reach both templates and a parser.
fresh; sed 's/FireEyeETPQuarantine_CL/FireEyeETPNewStream_CL/g' "$r/sources/schema/FireEyeETPQuarantine_CL.json" >"$r/sources/schema/FireEyeETPNewStream_CL.json"
expect_fail check_schema.js "no table resource for FireEyeETPNewStream_CL" "an ARM template without a new schema's table"
expect_fail check_schema.js "the DCR does not declare Custom-FireEyeETPNewStream_CL" "an ARM DCR without a new schema's stream"
expect_fail check_sentinel.js "no parser reads FireEyeETPNewStream_CL" "a table without a parser"

fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("{\n              \"name\": \"Recipients\",\n              \"type\": \"dynamic\"", "{\n              \"name\": \"Recipients\",\n              \"type\": \"string\"", 1)'
expect_fail check_schema.js "column Recipients has type string, the shipper sends dynamic" "a wrong column type in a supporting-data stream"

fresh; edit deploy/sentinel/parsers/FireEyeETPQuarantine.yaml 's.replace("IsReleased = coalesce(IsReleased, false)", "IsReleased = coalesce(Released_, false)")'
expect_fail check_sentinel.js "'Released_' does not refer to any known column" "a wrong column name in the quarantine parser"

# Both table shapes: a parser that reads a column only by its plain name fails against a Data Collector table.
fresh; edit deploy/sentinel/parsers/FireEyeETPMessageTrace.yaml 's.replace("    Status = coalesce(column_ifexists(\"Status\", \"\"), column_ifexists(\"Status_s\", \"\")),\n", "")'
expect_fail check_sentinel.js "KQL error (Data Collector table shape)" "a parser that does not read the suffixed names"

# A rule reading a supporting table directly fails while that table does not exist yet (legacy mode).
fresh; edit deploy/sentinel/analytics/FireEyeETP-HighSeverityReleasedFromQuarantine.yaml 's.replace("let FromQuarantine = FireEyeETPQuarantine\n", "let FromQuarantine = FireEyeETPQuarantine_CL | extend IngestedAt = ingestion_time(), IsReleased = true, Reason = \"\"\n")'
expect_fail check_sentinel.js "KQL error (Data Collector, only the alerts table yet table shape)" "a query that fails while a table does not exist yet"

fresh; edit deploy/sentinel/analytics/FireEyeETP-MaliciousMailDelivered.yaml 's.replace("      - FireEyeETPMessageTrace_CL\n", "")'
expect_fail check_sentinel.js "requiredDataConnectors must list FireEyeETPMessageTrace_CL" "a rule reading a table it does not require"

fresh; edit deploy/azure/terraform/locals.tf 's.replace("{ name = c.name, type = c.type }", "{ name = c.name, type = \"string\" }")'
expect_fail check_schema.js "local.stream_columns must be" "Terraform changing the stream's types"

fresh; edit deploy/azure/terraform/ingestion.tf 's.replace("transform_kql = \"source\"", "transform_kql = \"source | where\"")'
expect_fail check_schema.js "transformKql error" "a KQL syntax error in the Terraform DCR transform"

fresh; edit deploy/azure/terraform/redis.tf 's.replace("sku_name            = var.managed_redis_sku", "sku_name            = ")'
expect_fail check_hcl.js "HCL does not parse" "an HCL syntax error"

fresh; printf 'resource "azurerm_function_app" "old" {\n  name = "x"\n}\n' >"$r/deploy/azure/terraform/old.tf"
expect_fail check_hcl.js "deprecated resource type azurerm_function_app" "a deprecated resource type"

fresh; edit deploy/azure/terraform/variables.tf 's.replace("  description = \"Short prefix", "  # description = \"Short prefix")'
expect_fail check_hcl.js "variable name_prefix: no description" "a variable without a description"
fresh; edit deploy/azure/terraform/locals.tf 's.replace("SENTINEL_DCR_ID        =", "SENTINEL_DCR_IMMUTABLE_ID =")'
expect_fail check_hcl.js "SENTINEL_DCR_IMMUTABLE_ID is not a setting etp2sentinel reads" "a misspelt connector setting"

# What the deployment defends: each rule of check_hcl.js's hardening() fails when broken.
fresh; edit deploy/azure/terraform/versions.tf 's.replace("version = \"~> 4.60\"", "version = \"~> 4.40\"")'
expect_fail check_hcl.js "the configuration needs ~> 4.60" "an azurerm pin older than the resources used"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("maximum_instance_count = 1", "maximum_instance_count = 40")'
expect_fail check_hcl.js "maximum_instance_count is 40, must be 1" "a Function App that may run 40 instances"
fresh; edit deploy/azure/terraform/container_apps.tf 's.replace("max_replicas = 1", "max_replicas = 3")'
expect_fail check_hcl.js "replicas 1..3, must be exactly 1" "a Container App with more than one replica"
# The DCR/DCE region, both cases: a new workspace and an existing one elsewhere; the DCE optional.
fresh; edit deploy/azure/terraform/locals.tf 's.replace("data.azapi_resource.existing_workspace[0].location :", "azurerm_resource_group.etp.location :")'
expect_fail check_hcl.js "existing workspace: the DCR region must be read from the workspace itself" "an existing workspace's DCR in the resource group's region"
fresh; edit deploy/azure/terraform/locals.tf 's.replace(": azurerm_resource_group.etp.location\n", ": var.location_of_dcr\n")'
expect_fail check_hcl.js "new workspace: the DCR region var.location_of_dcr" "a new workspace's DCR elsewhere than the workspace"
fresh; edit deploy/azure/terraform/ingestion.tf 's.replace("location                    = local.workspace_location", "location                    = azurerm_resource_group.etp.location")'
expect_fail check_hcl.js "the DCR is in \${azurerm_resource_group.etp.location}, not the workspace's region" "a DCR in the resource group's region"
fresh; edit deploy/azure/terraform/ingestion.tf 's.replace("count                         = var.create_dce ? 1 : 0\n", "")'
expect_fail check_hcl.js "the DCE must be optional" "a DCE made always"
fresh; edit deploy/azure/terraform/locals.tf 's.replace("SENTINEL_DCE_URL       = local.logs_ingestion_endpoint", "SENTINEL_DCE_URL       = azurerm_monitor_data_collection_endpoint.etp[0].logs_ingestion_endpoint")'
expect_fail check_hcl.js "SENTINEL_DCE_URL is" "a shipper pointed at a DCE that may not exist"
fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("\"location\": \"[reference(resourceId(\x27Microsoft.OperationalInsights/workspaces\x27, parameters(\x27workspaceName\x27)), \x272022-10-01\x27, \x27Full\x27).location]\"", "\"location\": \"[parameters(\x27location\x27)]\"", 2)'
expect_fail check_schema.js "the DCE's location is [parameters('location')], not the workspace's" "an ARM DCE/DCR outside the workspace's region"
fresh; edit deploy/azure/arm/azuredeploy.json 's.replace("      \"condition\": \"[parameters(\x27createDce\x27)]\",\n", "")'
expect_fail check_schema.js "the DCE must be optional" "an ARM DCE made always"
fresh; edit deploy/azure/arm/azuredeploy.json 's.replace(".endpoints.logsIngestion)]", ".logsIngestion.endpoint)]")'
expect_fail check_schema.js "SENTINEL_DCE_URL must be the DCE's endpoint with createDce, else the DCR's own" "an ARM output without the DCR's own endpoint"
# No workspace shared key, and nothing that would need one.
fresh; edit deploy/azure/terraform/workspace.tf 's.replace("local_authentication_enabled = false", "local_authentication_enabled = true")'
expect_fail check_hcl.js "the workspace allows shared-key (local) authentication" "a workspace that accepts its shared key"
fresh; edit deploy/azure/terraform/workspace.tf 's.replace("local_authentication_enabled = false", "local_authentication_disabled = true")'
expect_fail check_hcl.js "deprecated argument local_authentication_disabled" "azurerm 3.x's argument name"
fresh; edit deploy/azure/terraform/container_apps.tf 's.replace("logs_destination    = \"azure-monitor\"", "log_analytics_workspace_id = local.workspace_id")'
expect_fail check_hcl.js "must send its logs through Azure Monitor" "a Container Apps environment writing with the shared key"
fresh; edit deploy/azure/terraform/container_apps.tf 's.replace("category = \"ContainerAppConsoleLogs\"", "category = \"ContainerAppConsoleLog\"")'
expect_fail check_hcl.js "no diagnostic setting sends the Container Apps environment" "the roles' console logs going nowhere"
# Redis with Entra: no key on the database or in the app's settings, an access policy for the identity.
fresh; edit deploy/azure/terraform/redis.tf 's.replace("access_keys_authentication_enabled            = var.redis_authentication == \"access_key\"", "access_keys_authentication_enabled            = true")'
expect_fail check_hcl.js "access keys must be enabled only with redis_authentication" "Managed Redis keeping its access keys with Entra"
fresh; edit deploy/azure/terraform/redis.tf 's.replace("object_id        = azurerm_user_assigned_identity.connector.principal_id", "object_id        = azurerm_user_assigned_identity.connector.client_id")'
expect_fail check_hcl.js "needs an access policy assignment" "an access policy for the identity's client id instead of its object id"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("REDIS_URL      = \"rediss://${", "REDIS_URL      = \"rediss://:${azurerm_managed_redis.etp[0].default_database[0].primary_access_key}@${")'
expect_fail check_hcl.js "REDIS_URL = rediss://<host>:<port>/0 without a key" "an access key in the Entra REDIS_URL"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("REDIS_USERNAME = azurerm_user_assigned_identity.connector.principal_id", "REDIS_USERNAME = azurerm_user_assigned_identity.connector.client_id")'
expect_fail check_hcl.js "REDIS_USERNAME = the identity's principal_id" "a Redis username that is not the identity's object id"
fresh; edit deploy/azure/terraform/keyvault.tf 's.replace("local.redis_url_secret ? [\"redis-url\"]", "var.compute == \"function_app\" ? [\"redis-url\"]")'
expect_fail check_hcl.js "the redis-url secret (which carries the access key) must exist only" "a redis-url secret with Entra"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("    REDIS_AUTH     = \"entra\"\n", "    REDIS_AUTHENTICATION = \"entra\"\n")'
expect_fail check_hcl.js "REDIS_AUTHENTICATION is not a setting etp2sentinel reads" "a misspelt Redis setting"
# Network rules: deny where the deployment still reaches the vault and storage, never where it could not start.
fresh; edit deploy/azure/terraform/network.tf 's.replace("key_vault_deny     = local.func_vnet ||", "key_vault_deny     = true ||")'
expect_fail check_hcl.js "Key Vault with compute=container_apps, function_subnet_id=null, 0 IP range(s), 0 subnet(s): denies by default" "a default deployment whose vault denies its Container App"
fresh; edit deploy/azure/terraform/network.tf 's.replace("func_vnet          = local.func && var.function_subnet_id != null", "func_vnet          = local.func")'
expect_fail check_hcl.js "the Function App storage with compute=function_app, function_subnet_id=null, 0 IP range(s), 0 subnet(s): denies by default" "a Function App without VNet behind a denying storage"
fresh; edit deploy/azure/terraform/network.tf 's.replace("func_storage_deny  = local.func_vnet && var.function_package_path == null", "func_storage_deny  = local.func_vnet")'
expect_fail check_hcl.js "0 subnet(s), package deployed by Terraform: denies by default, must allow" "a zip deployment into a denying storage"
fresh; edit deploy/azure/terraform/network.tf 's.replace("key_vault_deny     = local.func_vnet ||", "key_vault_deny     = false ||")'
expect_fail check_hcl.js "function_subnet_id=set, 0 IP range(s), 0 subnet(s): allows by default, must deny" "a VNet-integrated Function App whose vault stays open"
fresh; edit deploy/azure/terraform/keyvault.tf 's.replace("bypass                     = \"AzureServices\"", "bypass                     = \"None\"")'
expect_fail check_hcl.js "network_acls must bypass AzureServices" "a vault without the trusted-services bypass"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("ip_rules                   = local.storage_ip_rules\n", "")'
expect_fail check_hcl.js "the Function App storage: network_rules must bypass AzureServices and allow local.storage_ip_rules" "storage without the operator's allow-list"
fresh; edit deploy/azure/terraform/function_app.tf 's.replace("virtual_network_subnet_id = local.func_vnet ? var.function_subnet_id : null", "")'
expect_fail check_hcl.js "virtual_network_subnet_id must be var.function_subnet_id" "a denying vault without the app's VNet integration"
echo "negative tests: all passed"
