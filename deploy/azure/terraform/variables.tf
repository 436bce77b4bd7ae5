variable "subscription_id" {
  description = "Azure subscription to deploy into."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID."
  }
}

variable "location" {
  description = "Azure region for every resource (must offer Container Apps or Flex Consumption, per `compute`)."
  type        = string
  default     = "westeurope"
  validation {
    condition     = can(regex("^[a-z0-9]+$", var.location))
    error_message = "location is a region name such as westeurope (lower case, no spaces)."
  }
}

variable "resource_group_name" {
  description = "Resource group to create for the connector."
  type        = string
  default     = "rg-etp2sentinel"
  validation {
    condition     = can(regex("^[-\\w.()]{1,89}[-\\w()]$", var.resource_group_name))
    error_message = "resource_group_name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "name_prefix" {
  description = "Short prefix for resource names (lower-case letters and digits; globally unique names get a random suffix)."
  type        = string
  default     = "etp2s"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.name_prefix))
    error_message = "name_prefix: 2-10 lower-case letters or digits, starting with a letter."
  }
}

variable "existing_workspace_id" {
  description = "Resource id of an existing Log Analytics workspace to use; null creates a new one."
  type        = string
  default     = null
  validation {
    condition     = var.existing_workspace_id == null || can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.OperationalInsights/workspaces/[^/]+$", var.existing_workspace_id))
    error_message = "existing_workspace_id must be a workspace resource id (/subscriptions/.../providers/Microsoft.OperationalInsights/workspaces/<name>)."
  }
}

variable "create_dce" {
  description = "Create a Data Collection Endpoint (needed only for Private Link). Off: the shipper posts to the DCR's own logs ingestion endpoint. Either is made in the workspace's region."
  type        = bool
  default     = false
}

variable "workspace_retention_days" {
  description = "Retention of a newly created workspace, in days (Sentinel includes 90 days)."
  type        = number
  default     = 90
  validation {
    condition     = var.workspace_retention_days >= 30 && var.workspace_retention_days <= 730
    error_message = "workspace_retention_days must be between 30 and 730."
  }
}

variable "onboard_sentinel" {
  description = "Onboard Microsoft Sentinel on the workspace (false if it already is)."
  type        = bool
  default     = true
}

variable "deploy_sentinel_content" {
  description = "Create the parser functions (FireEyeETPAlerts, FireEyeETPAlertDetails, FireEyeETPMessageTrace, FireEyeETPQuarantine), the analytics rules, hunting queries and workbook of deploy/sentinel in the workspace."
  type        = bool
  default     = true
}

variable "vip_recipients" {
  description = "Mail addresses for the VIPUsers watchlist the VIP analytics rule reads; empty keeps (or expects) a VIPUsers watchlist managed elsewhere."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.vip_recipients : can(regex("^[^@\\s]+@[^@\\s]+$", a))])
    error_message = "vip_recipients must be mail addresses."
  }
}

variable "ingestion_principal_object_ids" {
  description = "Object ids of further principals (e.g. the service principal of a docker-compose host) that get Monitoring Metrics Publisher on the DCR."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.ingestion_principal_object_ids : can(regex("^[0-9a-fA-F-]{36}$", id))])
    error_message = "ingestion_principal_object_ids must be object ids (GUIDs)."
  }
}

variable "compute" {
  description = "Where the connector runs: container_apps (all roles, backfill and steady state), function_app (Flex Consumption, steady state, all-in-one custom handler) or none (only the ingestion resources and Key Vault, e.g. for docker-compose)."
  type        = string
  default     = "container_apps"
  validation {
    condition     = contains(["container_apps", "function_app", "none"], var.compute)
    error_message = "compute must be container_apps, function_app or none."
  }
}

variable "image" {
  description = "Container image of etp2sentinel (built from deploy/docker/Dockerfile and pushed to your registry), for compute = container_apps."
  type        = string
  default     = "etp2sentinel:latest"
  validation {
    condition     = length(var.image) > 0 && !can(regex("\\s", var.image))
    error_message = "image must be an image reference without spaces."
  }
}

variable "container_registry_id" {
  description = "Resource id of the Azure Container Registry holding the image (the connector's identity gets AcrPull); null for a public image."
  type        = string
  default     = null
  validation {
    condition     = var.container_registry_id == null || can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.ContainerRegistry/registries/[a-z0-9]{5,50}$", var.container_registry_id))
    error_message = "container_registry_id must be a registry resource id (/subscriptions/.../providers/Microsoft.ContainerRegistry/registries/<name>)."
  }
}

variable "fetcher_count" {
  description = "Fetcher containers in the Container App: 4 for the first backfill, 1 for steady state (the vendor budget is shared either way)."
  type        = number
  default     = 1
  validation {
    condition     = var.fetcher_count >= 1 && var.fetcher_count <= 8 && floor(var.fetcher_count) == var.fetcher_count
    error_message = "fetcher_count must be a whole number from 1 to 8."
  }
}

variable "function_package_path" {
  description = "Zip built by scripts/package-function.sh, deployed to the Function App (compute = function_app); null to deploy it yourself."
  type        = string
  default     = null
  validation {
    condition     = var.function_package_path == null || endswith(coalesce(var.function_package_path, "x"), ".zip")
    error_message = "function_package_path must name the .zip built by scripts/package-function.sh."
  }
}

variable "function_runtime_version" {
  description = "runtime_version of the Flex Consumption app's `custom` runtime; `az functionapp list-flexconsumption-runtimes --location <region> --runtime custom` lists what the region offers."
  type        = string
  default     = "1.0"
  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)*$", var.function_runtime_version))
    error_message = "function_runtime_version is a version number such as 1.0."
  }
}

variable "etp_base_url" {
  description = "Base URL of the ETP API for your region (e.g. https://etp.us.fireeye.com, https://etp.eu.fireeye.com)."
  type        = string
  default     = "https://etp.us.fireeye.com"
  validation {
    condition     = can(regex("^https://[^\\s/]+", var.etp_base_url))
    error_message = "etp_base_url must be an https URL."
  }
}

variable "etp_api_key" {
  description = "ETP API key, stored in Key Vault (it also lands in Terraform state: prefer null and `az keyvault secret set --name etp-api-key` after apply)."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.etp_api_key == null || length(coalesce(var.etp_api_key, "x")) >= 16
    error_message = "etp_api_key looks truncated (fewer than 16 characters)."
  }
}

variable "etp_traffic_types" {
  description = "Traffic types to collect."
  type        = list(string)
  default     = ["inbound", "outbound"]
  validation {
    condition     = length(var.etp_traffic_types) > 0 && alltrue([for t in var.etp_traffic_types : contains(["inbound", "outbound"], t)])
    error_message = "etp_traffic_types: a non-empty list of inbound and/or outbound."
  }
}

variable "etp_backfill_days" {
  description = "History to load on first start, in days (the vendor keeps 90)."
  type        = number
  default     = 7
  validation {
    condition     = var.etp_backfill_days >= 1 && var.etp_backfill_days <= 90
    error_message = "etp_backfill_days must be between 1 and 90."
  }
}

variable "etp_rate_limit_per_min" {
  description = "Vendor requests per minute for the whole connector (the vendor refuses the 61st)."
  type        = number
  default     = 60
  validation {
    condition     = var.etp_rate_limit_per_min >= 1 && var.etp_rate_limit_per_min <= 60
    error_message = "etp_rate_limit_per_min must be between 1 and 60."
  }
}

variable "managed_redis_sku" {
  description = "Azure Managed Redis SKU used when compute = function_app (the Function App cannot run a Redis sidecar)."
  type        = string
  default     = "Balanced_B0"
  validation {
    condition     = can(regex("^(Balanced|ComputeOptimized|MemoryOptimized)_[A-Z][0-9]+$", var.managed_redis_sku))
    error_message = "managed_redis_sku must be an Azure Managed Redis SKU such as Balanced_B0."
  }
}

variable "allowed_ip_ranges" {
  description = "Public IPv4 addresses or CIDR ranges allowed to the Key Vault and storage where they deny by default (network.tf): your workstation's and the Terraform runner's, which write the secrets."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for r in var.allowed_ip_ranges : can(regex("^[0-9.]+(/[0-9]+)?$", r)) && can(cidrhost(strcontains(r, "/") ? r : "${r}/32", 0)) && !endswith(r, "/31")])
    error_message = "allowed_ip_ranges: public IPv4 addresses or CIDR ranges (not /31; storage refuses private ranges)."
  }
}

variable "allowed_subnet_ids" {
  description = "Further subnets (with the Microsoft.KeyVault and Microsoft.Storage service endpoints) allowed to the Key Vault and storage where they deny by default."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.allowed_subnet_ids : can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+/subnets/[^/]+$", id))])
    error_message = "allowed_subnet_ids must be subnet resource ids."
  }
}

variable "function_subnet_id" {
  description = "Subnet for the Function App's regional VNet integration (compute = function_app): delegated to Microsoft.App/environments, with the Microsoft.KeyVault and Microsoft.Storage service endpoints, and outbound internet (a NAT gateway, or default outbound access) for the ETP API, Entra and the ingestion endpoint. Given, the Key Vault and the app's storage deny all other networks by default; null leaves them open (no VNet)."
  type        = string
  default     = null
  validation {
    condition     = var.function_subnet_id == null || can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+/subnets/[^/]+$", coalesce(var.function_subnet_id, "x")))
    error_message = "function_subnet_id must be a subnet resource id."
  }
}

variable "redis_authentication" {
  description = "How the connector authenticates to Azure Managed Redis (compute = function_app): entra (its managed identity, access keys disabled on the database) or access_key (the key, inside the redis-url Key Vault secret)."
  type        = string
  default     = "entra"
  validation {
    condition     = contains(["entra", "access_key"], var.redis_authentication)
    error_message = "redis_authentication must be entra or access_key."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { application = "etp2sentinel" }
  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 512 && length(v) <= 256])
    error_message = "tag names are at most 512 characters and values at most 256."
  }
}
