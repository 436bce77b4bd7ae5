# Azure Managed Redis for compute = function_app (Azure Cache for Redis is being retired; Managed Redis is its
# successor). TLS only (client_protocol Encrypted, port 10000): the binary speaks TLS itself for rediss:// URLs,
# verifying the certificate and host name, because Debian bookworm's hiredis has no TLS. NoCluster: the
# connector's Lua scripts touch several keys at once. AOF every second: a lost instance loses at most a second of
# marks, which the shipper's dedupe and the coordinator's leases absorb.
resource "azurerm_managed_redis" "etp" {
  count               = var.compute == "function_app" ? 1 : 0
  name                = "${var.name_prefix}-redis-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  sku_name            = var.managed_redis_sku
  tags                = var.tags

  default_database {
    access_keys_authentication_enabled            = true
    client_protocol                               = "Encrypted"
    clustering_policy                             = "NoCluster"
    eviction_policy                               = "NoEviction"
    persistence_append_only_file_backup_frequency = "1s"
  }
}
