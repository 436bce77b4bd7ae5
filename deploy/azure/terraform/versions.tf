terraform {
  required_version = ">= 1.6.0"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
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
