resource "azurerm_key_vault" "etp" {
  name                       = "${var.name_prefix}-kv-${local.suffix}"
  resource_group_name        = azurerm_resource_group.etp.name
  location                   = azurerm_resource_group.etp.location
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 30
  tags                       = var.tags

  # network.tf: deny by default only where the compute can still resolve its Key Vault references.
  network_acls {
    default_action             = local.key_vault_deny ? "Deny" : "Allow"
    bypass                     = "AzureServices"
    ip_rules                   = var.allowed_ip_ranges
    virtual_network_subnet_ids = local.network_subnet_ids
  }
}

# Whoever runs Terraform writes the secrets; the connector only reads them.
resource "azurerm_role_assignment" "deployer_writes_secrets" {
  scope                = azurerm_key_vault.etp.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_role_assignment" "connector_reads_secrets" {
  scope                = azurerm_key_vault.etp.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.connector.principal_id
  principal_type       = "ServicePrincipal"
}

locals {
  # Secrets this deployment can fill itself; etp-api-key only when given (else set it with az keyvault secret set);
  # redis-url only with a Redis access key (with Entra the URL holds no secret and is a plain app setting).
  redis_url_secret = var.compute == "function_app" && var.redis_authentication == "access_key"
  secret_values = merge(
    var.etp_api_key != null ? { "etp-api-key" = var.etp_api_key } : {},
    local.redis_url_secret ? {
      "redis-url" = "rediss://:${azurerm_managed_redis.etp[0].default_database[0].primary_access_key}@${azurerm_managed_redis.etp[0].hostname}:${azurerm_managed_redis.etp[0].default_database[0].port}/0"
    } : {}
  )
  # Names known at plan time (for_each cannot use values that are unknown until apply).
  secret_names = toset(concat(var.etp_api_key != null ? ["etp-api-key"] : [], local.redis_url_secret ? ["redis-url"] : []))
}

resource "azurerm_key_vault_secret" "connector" {
  for_each     = local.secret_names
  name         = each.key
  value        = local.secret_values[each.key]
  key_vault_id = azurerm_key_vault.etp.id
  content_type = "text/plain"
  depends_on   = [azurerm_role_assignment.deployer_writes_secrets]
}
