locals {
  # The one machine-readable source of each table's schema: every file in sources/schema (compiled into the
  # connector). The tables and the DCR's stream declarations below are generated from them, so they cannot
  # drift from what the shipper sends. Keyed by table name (the file's name without .json).
  schema_dir = "${path.module}/../../../sources/schema"
  schemas    = { for f in fileset(local.schema_dir, "*.json") : trimsuffix(f, ".json") => jsondecode(file("${local.schema_dir}/${f}")) }
  # The alert stream keeps its own settings (SENTINEL_STREAM); the others default to their schema's stream.
  schema = local.schemas["FireEyeETPAlerts_CL"]
  stream = local.schema.stream
  table  = local.schema.table
  # DCR stream declarations spell types in lower case (datetime); the tables API says dateTime.
  stream_columns = { for t, s in local.schemas : s.stream => [for c in s.columns : { name = c.name, type = c.type }] }
  table_columns = { for t, s in local.schemas : t => [for c in s.columns : {
    name        = c.name
    type        = c.type == "datetime" ? "dateTime" : c.type
    description = c.description
  }] }

  suffix         = substr(md5("${var.subscription_id}/${var.resource_group_name}/${var.name_prefix}"), 0, 6)
  workspace_id   = var.existing_workspace_id != null ? var.existing_workspace_id : azurerm_log_analytics_workspace.etp[0].id
  workspace_name = element(split("/", local.workspace_id), length(split("/", local.workspace_id)) - 1)
  # The DCR (and the DCE, if any) go where the workspace is: a new workspace is made in var.location.
  workspace_location = var.existing_workspace_id != null ? data.azapi_resource.existing_workspace[0].location : azurerm_resource_group.etp.location
  # Where the shipper posts: the DCE when one is made (Private Link), else the DCR's own endpoint.
  logs_ingestion_endpoint = var.create_dce ? azurerm_monitor_data_collection_endpoint.etp[0].logs_ingestion_endpoint : data.azapi_resource.dcr_endpoint.output.logs_ingestion

  # What every role reads (secrets are added per compute option as Key Vault references).
  connector_settings = {
    ETP_BASE_URL           = var.etp_base_url
    ETP_TRAFFIC_TYPES      = join(",", var.etp_traffic_types)
    ETP_BACKFILL_DAYS      = tostring(var.etp_backfill_days)
    ETP_RATE_LIMIT_PER_MIN = tostring(var.etp_rate_limit_per_min)
    SENTINEL_MODE          = "logs-ingestion"
    SENTINEL_DCE_URL       = local.logs_ingestion_endpoint
    SENTINEL_DCR_ID        = azurerm_monitor_data_collection_rule.etp.immutable_id
    SENTINEL_STREAM        = local.stream
    AZURE_CLIENT_ID        = azurerm_user_assigned_identity.connector.client_id
    LOG_LEVEL              = "info"
  }
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "etp" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}
