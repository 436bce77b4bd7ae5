# compute = "function_app": the customer's first sketch, for steady state. A Flex Consumption app whose custom
# handler is the all-in-one binary (`etp2sentinel function-host`, packaged by scripts/package-function.sh).
# The Functions host starts it with FUNCTIONS_CUSTOMHANDLER_PORT; it runs every role in-process and answers the
# timer trigger `tick` with the pipeline's state (500 once a fatal error is recorded). State lives in Azure
# Managed Redis (redis.tf), reached over TLS by the binary itself (rediss://).
locals {
  func = var.compute == "function_app"
  # How the app reaches Redis (redis.tf). entra: no key anywhere; the URL is no secret, the username is the
  # identity's object id and the password a token of the identity named by AZURE_CLIENT_ID (the same managed
  # identity settings the shipper uses for the DCR). access_key: the URL with the key, as a Key Vault reference.
  func_redis_settings = !local.func ? tomap({}) : var.redis_authentication == "entra" ? tomap({
    REDIS_URL      = "rediss://${azurerm_managed_redis.etp[0].hostname}:${azurerm_managed_redis.etp[0].default_database[0].port}/0"
    REDIS_AUTH     = "entra"
    REDIS_USERNAME = azurerm_user_assigned_identity.connector.principal_id
    }) : tomap({
    REDIS_URL = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.etp.vault_uri}secrets/redis-url)"
  })
}

resource "azurerm_storage_account" "func" {
  count                           = local.func ? 1 : 0
  name                            = "${var.name_prefix}func${local.suffix}"
  resource_group_name             = azurerm_resource_group.etp.name
  location                        = azurerm_resource_group.etp.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  tags                            = var.tags

  # network.tf: deny by default once the app is VNet-integrated (it then reaches its storage from its subnet) and
  # Terraform does not push the package through the platform.
  network_rules {
    default_action             = local.func_storage_deny ? "Deny" : "Allow"
    bypass                     = ["AzureServices"]
    ip_rules                   = local.storage_ip_rules
    virtual_network_subnet_ids = local.network_subnet_ids
  }
}

resource "azurerm_storage_container" "func" {
  count                 = local.func ? 1 : 0
  name                  = "deployment"
  storage_account_id    = azurerm_storage_account.func[0].id
  container_access_type = "private"
}

# The app reaches its storage with its identity (no account keys anywhere): the deployment package and the Functions
# host's own blobs (the timer trigger's schedule monitor and singleton lock).
resource "azurerm_role_assignment" "func_storage" {
  count                = local.func ? 1 : 0
  scope                = azurerm_storage_account.func[0].id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_user_assigned_identity.connector.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_service_plan" "func" {
  count               = local.func ? 1 : 0
  name                = "${var.name_prefix}-plan-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

resource "azurerm_function_app_flex_consumption" "etp" {
  count               = local.func ? 1 : 0
  name                = "${var.name_prefix}-func-${local.suffix}"
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  service_plan_id     = azurerm_service_plan.func[0].id
  tags                = var.tags

  runtime_name    = "custom"
  runtime_version = var.function_runtime_version

  storage_container_type            = "blobContainer"
  storage_container_endpoint        = "${azurerm_storage_account.func[0].primary_blob_endpoint}${azurerm_storage_container.func[0].name}"
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.connector.id

  # One coordinator per plan: the coordinator holds a lock in Redis, so a second instance would only stand by
  # (and the vendor's 60 requests a minute do not grow with instances). So the cap is 1, the lowest Flex
  # Consumption allows (azurerm >= 4.58 accepts 1..1000; before, the service's floor was 40): one instance,
  # always ready, keeps the pipeline running between ticks. Should the platform still overlap two instances
  # (a restart, a platform move), the lock keeps the second coordinator standing by (docs/azure.md).
  maximum_instance_count = 1
  instance_memory_in_mb  = 2048
  always_ready {
    name           = "function:tick"
    instance_count = 1
  }

  # The user-assigned identity writes to the DCR and reads storage; Key Vault references are resolved with the
  # system-assigned one (granted below), the platform default.
  identity {
    type         = "SystemAssigned, UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.connector.id]
  }
  zip_deploy_file = var.function_package_path

  # Regional VNet integration (network.tf): Key Vault references and storage then come from this subnet.
  virtual_network_subnet_id = local.func_vnet ? var.function_subnet_id : null

  # Secrets are Key Vault references, resolved by the platform with the system-assigned identity.
  app_settings = merge(local.connector_settings, local.func_redis_settings, {
    ETP_API_KEY                         = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.etp.vault_uri}secrets/etp-api-key)"
    FETCHERS                            = "2" # steady state: one worker polls while the other drains lookups
    AzureWebJobsStorage__credential     = "managedidentity"
    AzureWebJobsStorage__clientId       = azurerm_user_assigned_identity.connector.client_id
    AzureWebJobsStorage__blobServiceUri = azurerm_storage_account.func[0].primary_blob_endpoint
  })

  site_config {
    minimum_tls_version = "1.2"
    # VNet-integrated: everything leaves through the subnet, so the vault and storage see it come from there.
    vnet_route_all_enabled = local.func_vnet
  }

  depends_on = [
    azurerm_role_assignment.connector_reads_secrets,
    azurerm_role_assignment.func_storage,
    azurerm_key_vault_secret.connector,
    azurerm_managed_redis_access_policy_assignment.connector,
  ]
}

# Key Vault references resolve with the app's system-assigned identity; until this assignment exists (a minute
# after the app), the platform retries them.
resource "azurerm_role_assignment" "func_reads_secrets" {
  count                = local.func ? 1 : 0
  scope                = azurerm_key_vault.etp.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_function_app_flex_consumption.etp[0].identity[0].principal_id
  principal_type       = "ServicePrincipal"
}
