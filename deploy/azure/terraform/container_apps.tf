# compute = "container_apps": one app, one replica; redis, the coordinator, the shipper and the fetchers are
# containers of that replica and share its loopback, as in docker-compose. Redis never leaves the replica, so
# it needs no TLS (Debian's hiredis has none); its AOF lives on an Azure Files share and survives restarts.
locals {
  aca           = var.compute == "container_apps"
  aca_redis_url = "redis://127.0.0.1:6379/0"
  aca_roles = concat(
    [
      { name = "coordinator", args = ["coordinator"], metrics_port = 9464, env = { COORDINATOR_ENDPOINT = "tcp://127.0.0.1:5555" } },
      { name = "shipper", args = ["shipper"], metrics_port = 9465, env = { SHIPPER_ENDPOINT = "tcp://127.0.0.1:5556" } },
    ],
    [for i in range(var.fetcher_count) : {
      name         = "fetcher-${i}"
      args         = ["fetcher"]
      metrics_port = 9466 + i
      env          = { COORDINATOR_ENDPOINT = "tcp://127.0.0.1:5555", SHIPPER_ENDPOINT = "tcp://127.0.0.1:5556" }
    }]
  )
}

resource "azurerm_storage_account" "redis" {
  count                           = local.aca ? 1 : 0
  name                            = "${var.name_prefix}redis${local.suffix}"
  resource_group_name             = azurerm_resource_group.etp.name
  location                        = azurerm_resource_group.etp.location
  account_tier                    = "Standard"
  account_replication_type        = "ZRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.tags

  # Open by design (network.tf): the platform mounts the share with the account key from outside any network
  # this module controls; denying would stop Redis, hence the whole connector.
  network_rules {
    default_action             = "Allow"
    bypass                     = ["AzureServices"]
    ip_rules                   = local.storage_ip_rules
    virtual_network_subnet_ids = var.allowed_subnet_ids
  }
}

resource "azurerm_storage_share" "redis" {
  count              = local.aca ? 1 : 0
  name               = "redis-data"
  storage_account_id = azurerm_storage_account.redis[0].id
  quota              = 5
}

# Logs go through Azure Monitor (the diagnostic setting below), not the "log-analytics" destination: that one
# writes with the workspace's shared key (the provider even reads the key to configure it), which the workspace
# this deployment creates does not accept (local_authentication_enabled = false, workspace.tf).
resource "azurerm_container_app_environment" "etp" {
  count               = local.aca ? 1 : 0
  name                = "${var.name_prefix}-cae-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  logs_destination    = "azure-monitor"
  tags                = var.tags
}

# The roles' console output and the platform's events, into the workspace's resource-specific tables
# ContainerAppConsoleLogs and ContainerAppSystemLogs (Entra-authenticated platform pipeline, no shared key).
resource "azurerm_monitor_diagnostic_setting" "aca_logs" {
  count                          = local.aca ? 1 : 0
  name                           = "etp2sentinel-logs"
  target_resource_id             = azurerm_container_app_environment.etp[0].id
  log_analytics_workspace_id     = local.workspace_id
  log_analytics_destination_type = "Dedicated"
  enabled_log {
    category = "ContainerAppConsoleLogs"
  }
  enabled_log {
    category = "ContainerAppSystemLogs"
  }
}

resource "azurerm_container_app_environment_storage" "redis" {
  count                        = local.aca ? 1 : 0
  name                         = "redis-data"
  container_app_environment_id = azurerm_container_app_environment.etp[0].id
  account_name                 = azurerm_storage_account.redis[0].name
  share_name                   = azurerm_storage_share.redis[0].name
  access_key                   = azurerm_storage_account.redis[0].primary_access_key
  access_mode                  = "ReadWrite"
}

resource "azurerm_role_assignment" "connector_pulls_image" {
  count                = local.aca && var.container_registry_id != null ? 1 : 0
  scope                = var.container_registry_id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.connector.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_container_app" "etp" {
  count                        = local.aca ? 1 : 0
  name                         = "${var.name_prefix}-connector"
  resource_group_name          = azurerm_resource_group.etp.name
  container_app_environment_id = azurerm_container_app_environment.etp[0].id
  # Single revision: a new revision replaces the old one; leases and epochs make the handover safe.
  revision_mode = "Single"
  tags          = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.connector.id]
  }

  dynamic "registry" {
    for_each = var.container_registry_id != null ? [1] : []
    content {
      server   = "${element(split("/", var.container_registry_id), 8)}.azurecr.io"
      identity = azurerm_user_assigned_identity.connector.id
    }
  }

  # Key Vault reference: the app reads the secret with its identity; the value is in no app setting.
  secret {
    name                = "etp-api-key"
    identity            = azurerm_user_assigned_identity.connector.id
    key_vault_secret_id = "${azurerm_key_vault.etp.vault_uri}secrets/etp-api-key"
  }

  template {
    # Exactly one replica: it holds the coordinator (and Redis, on its own loopback), so a second one would run a
    # second, empty Redis and a second coordinator; the lock in Redis cannot stop that across two Redis servers.
    min_replicas = 1
    max_replicas = 1

    volume {
      name         = "redis-data"
      storage_type = "AzureFile"
      storage_name = azurerm_container_app_environment_storage.redis[0].name
    }

    # The entrypoint is replaced (command), so redis-server runs as the image's root user: the Azure Files (SMB)
    # share cannot be chown-ed to the redis user the stock entrypoint would switch to. Loopback only, no ingress.
    container {
      name    = "redis"
      image   = "docker.io/library/redis:7-bookworm"
      cpu     = 0.25
      memory  = "0.5Gi"
      command = ["redis-server"]
      args    = ["--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data"]
      volume_mounts {
        name = "redis-data"
        path = "/data"
      }
    }

    dynamic "container" {
      for_each = local.aca_roles
      content {
        name   = container.value.name
        image  = var.image
        cpu    = 0.25
        memory = "0.5Gi"
        args   = container.value.args

        dynamic "env" {
          for_each = merge(local.connector_settings, container.value.env, {
            REDIS_URL    = local.aca_redis_url
            METRICS_PORT = tostring(container.value.metrics_port)
          })
          content {
            name  = env.key
            value = env.value
          }
        }
        env {
          name        = "ETP_API_KEY"
          secret_name = "etp-api-key"
        }

        liveness_probe {
          transport = "HTTP"
          port      = container.value.metrics_port
          path      = "/metrics"
        }
      }
    }
  }

  depends_on = [azurerm_role_assignment.connector_reads_secrets, azurerm_key_vault_secret.connector]
}
