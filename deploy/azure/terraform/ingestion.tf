# One custom table per schema file with the shipper's exact columns (Analytics plan: analytics rules can query
# them).
resource "azapi_resource" "table" {
  for_each  = local.schemas
  type      = "Microsoft.OperationalInsights/workspaces/tables@2022-10-01"
  name      = each.value.table
  parent_id = local.workspace_id
  body = {
    properties = {
      plan = "Analytics"
      schema = {
        name        = each.value.table
        description = each.value.description
        columns     = local.table_columns[each.key]
      }
    }
  }
}

# Before the tables were generated per schema file there was one (azapi_resource.table, no for_each): keep it,
# with its data, instead of destroying and recreating it.
moved {
  from = azapi_resource.table
  to   = azapi_resource.table["FireEyeETPAlerts_CL"]
}

# A DCE only with create_dce (Private Link needs one): a DCR created since 2024-03-31 has its own logs ingestion
# endpoint. Either must be in the workspace's region.
resource "azurerm_monitor_data_collection_endpoint" "etp" {
  count                         = var.create_dce ? 1 : 0
  name                          = "${var.name_prefix}-dce-${local.suffix}"
  resource_group_name           = azurerm_resource_group.etp.name
  location                      = local.workspace_location
  public_network_access_enabled = true
  description                   = "Logs Ingestion endpoint of etp2sentinel"
  tags                          = var.tags
}

resource "azurerm_monitor_data_collection_rule" "etp" {
  name                        = "${var.name_prefix}-dcr-${local.suffix}"
  resource_group_name         = azurerm_resource_group.etp.name
  location                    = local.workspace_location
  data_collection_endpoint_id = var.create_dce ? azurerm_monitor_data_collection_endpoint.etp[0].id : null
  description                 = "FireEye ETP alerts and supporting data from etp2sentinel into ${join(", ", keys(local.schemas))}"
  tags                        = var.tags

  # One stream per schema file, each into its own table.
  dynamic "stream_declaration" {
    for_each = local.schemas
    content {
      stream_name = stream_declaration.value.stream
      dynamic "column" {
        for_each = local.stream_columns[stream_declaration.value.stream]
        content {
          name = column.value.name
          type = column.value.type
        }
      }
    }
  }

  destinations {
    log_analytics {
      name                  = "workspace"
      workspace_resource_id = local.workspace_id
    }
  }

  dynamic "data_flow" {
    for_each = local.schemas
    content {
      streams      = [data_flow.value.stream]
      destinations = ["workspace"]
      # Rows go in exactly as the shipper built them: TimeGenerated is the vendor's time of the record
      # (never now(), which would throw the event time away).
      transform_kql = "source"
      output_stream = data_flow.value.stream
    }
  }

  depends_on = [azapi_resource.table]
}

# The DCR's own logs ingestion endpoint (azurerm does not export it). A DCR without one (made before 2024-03-31
# and kept) cannot be posted to without a DCE: fail the apply, naming the fix, rather than start a shipper
# with no endpoint.
data "azapi_resource" "dcr_endpoint" {
  type                   = "Microsoft.Insights/dataCollectionRules@2023-03-11"
  resource_id            = azurerm_monitor_data_collection_rule.etp.id
  response_export_values = { logs_ingestion = "properties.endpoints.logsIngestion" }
  lifecycle {
    postcondition {
      condition     = var.create_dce || try(self.output.logs_ingestion, null) != null
      error_message = "The DCR has no logs ingestion endpoint of its own; set create_dce = true."
    }
  }
}

# The connector's identity (Container Apps, the Function App) and what it may do.
resource "azurerm_user_assigned_identity" "connector" {
  name                = "${var.name_prefix}-id-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  tags                = var.tags
}

resource "azurerm_role_assignment" "connector_publishes" {
  scope                = azurerm_monitor_data_collection_rule.etp.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.connector.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "other_publishers" {
  for_each             = toset(var.ingestion_principal_object_ids)
  scope                = azurerm_monitor_data_collection_rule.etp.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = each.value
}
