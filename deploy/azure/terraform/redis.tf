# Azure Managed Redis for compute = function_app (Azure Cache for Redis is being retired; Managed Redis is its
# successor). TLS only (client_protocol Encrypted, port 10000): the binary speaks TLS itself for rediss:// URLs,
# verifying the certificate and host name, because Debian bookworm's hiredis has no TLS. NoCluster: the
# connector's Lua scripts touch several keys at once. AOF every second: a lost instance loses at most a second of
# marks, which the shipper's dedupe and the coordinator's leases absorb.
# redis_authentication = "entra" (the default): access keys are disabled on the database and the connector's
# user-assigned identity gets the database's default access policy; the connector authenticates with
# AUTH <the identity's object id> <an Entra token for https://redis.azure.com/.default> (REDIS_AUTH=entra,
# function_app.tf). "access_key" keeps the key, which then reaches the app only inside the redis-url secret.
resource "azurerm_managed_redis" "etp" {
  count               = var.compute == "function_app" ? 1 : 0
  name                = "${var.name_prefix}-redis-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  sku_name            = var.managed_redis_sku
  tags                = var.tags

  default_database {
    access_keys_authentication_enabled            = var.redis_authentication == "access_key"
    client_protocol                               = "Encrypted"
    clustering_policy                             = "NoCluster"
    eviction_policy                               = "NoEviction"
    persistence_append_only_file_backup_frequency = "1s"
  }
}

resource "azurerm_managed_redis_access_policy_assignment" "connector" {
  count            = var.compute == "function_app" && var.redis_authentication == "entra" ? 1 : 0
  managed_redis_id = azurerm_managed_redis.etp[0].id
  object_id        = azurerm_user_assigned_identity.connector.principal_id
}
