terraform {
  required_version = ">= 1.6.0"
  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.60: azurerm_managed_redis_access_policy_assignment (4.50 added azurerm_managed_redis, 4.54 its AOF
      # setting, 4.58 lets Flex Consumption's maximum_instance_count go down to 1).
      version = "~> 4.60"
    }
    # Custom tables with declared columns have no azurerm resource; azapi creates them through ARM directly.
    azapi = {
      source  = "Azure/azapi"
      version = "~> 2.4"
    }
  }
}

provider "azurerm" {
  subscription_id = var.subscription_id
  features {
    key_vault {
      # A destroyed vault stays recoverable (soft delete); secrets are never purged by Terraform.
      purge_soft_delete_on_destroy = false
    }
  }
}

provider "azapi" {}
