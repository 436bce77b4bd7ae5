# These fill the docker-compose .env (see README: "docker-compose pointed at the created resources").
output "SENTINEL_DCE_URL" {
  description = "Logs Ingestion endpoint: the DCE's with create_dce, else the DCR's own."
  value       = local.logs_ingestion_endpoint
}

output "SENTINEL_DCR_ID" {
  description = "Immutable id of the DCR (dcr-...)."
  value       = azurerm_monitor_data_collection_rule.etp.immutable_id
}

output "SENTINEL_STREAM" {
  description = "Stream name declared in the DCR."
  value       = local.stream
}

output "AZURE_TENANT_ID" {
  description = "Entra tenant of the deployment."
  value       = data.azurerm_client_config.current.tenant_id
}

output "managed_identity_client_id" {
  description = "Client id of the connector's user-assigned identity (AZURE_CLIENT_ID inside Azure)."
  value       = azurerm_user_assigned_identity.connector.client_id
}

output "workspace_id" {
  description = "Resource id of the Log Analytics workspace."
  value       = local.workspace_id
}

output "key_vault_name" {
  description = "Key Vault holding the connector's secrets (az keyvault secret set --vault-name <this> --name etp-api-key --file <key file>)."
  value       = azurerm_key_vault.etp.name
}

output "dotenv" {
  description = "The Sentinel lines of the compose .env (AZURE_CLIENT_ID is your compose service principal's, not this identity's)."
  value = join("\n", [
    "SENTINEL_MODE=logs-ingestion",
    "SENTINEL_DCE_URL=${local.logs_ingestion_endpoint}",
    "SENTINEL_DCR_ID=${azurerm_monitor_data_collection_rule.etp.immutable_id}",
    "SENTINEL_STREAM=${local.stream}",
    "AZURE_TENANT_ID=${data.azurerm_client_config.current.tenant_id}",
    "ETP_BASE_URL=${var.etp_base_url}",
    "ETP_TRAFFIC_TYPES=${join(",", var.etp_traffic_types)}",
    "ETP_BACKFILL_DAYS=${var.etp_backfill_days}",
  ])
}

output "container_app_name" {
  description = "The Container App running the roles (compute = container_apps)."
  value       = var.compute == "container_apps" ? azurerm_container_app.etp[0].name : null
}

output "function_app_name" {
  description = "The Flex Consumption Function App (compute = function_app)."
  value       = var.compute == "function_app" ? azurerm_function_app_flex_consumption.etp[0].name : null
}
