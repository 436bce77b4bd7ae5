resource "azurerm_log_analytics_workspace" "etp" {
  count               = var.existing_workspace_id == null ? 1 : 0
  name                = "${var.name_prefix}-law-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  sku                 = "PerGB2018"
  retention_in_days   = var.workspace_retention_days
  # Entra only: no workspace shared key is accepted. Only the legacy Data Collector API (SENTINEL_MODE =
  # data-collector) would need it, and this deployment never uses that mode: the tables it creates are
  # DCR-based, where legacy posts lose their values (README, "Legacy mode"), so SENTINEL_MODE is always
  # logs-ingestion here (local.connector_settings). The Container Apps environment sends its logs through a
  # diagnostic setting, not with the shared key (container_apps.tf). azurerm 4.x name; 3.x had
  # local_authentication_disabled.
  local_authentication_enabled = false
  tags                         = var.tags
}

# An existing workspace decides the region of the ingestion resources (the DCR and its endpoint must be in the
# workspace's region, whatever the resource group's). azapi reads it by id, also in another subscription.
data "azapi_resource" "existing_workspace" {
  count       = var.existing_workspace_id != null ? 1 : 0
  type        = "Microsoft.OperationalInsights/workspaces@2022-10-01"
  resource_id = var.existing_workspace_id
}

resource "azurerm_sentinel_log_analytics_workspace_onboarding" "etp" {
  count        = var.onboard_sentinel ? 1 : 0
  workspace_id = local.workspace_id
}
