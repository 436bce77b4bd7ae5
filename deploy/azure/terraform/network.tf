# Network rules of the Key Vault and the storage accounts: deny by default (trusted Azure services bypass,
# plus the operator's allow-list) wherever the deployment can still reach them, and only there.
# - Function App: Key Vault references and the app's own storage are reached from the platform, not from fixed
#   outbound IPs, unless the app is VNet-integrated; then they come from its subnet. So the vault and the
#   app's storage deny by default only when function_subnet_id is given (regional VNet integration; the
#   subnet needs the service endpoints Microsoft.KeyVault and Microsoft.Storage). The app's storage denies only
#   when Terraform does not deploy the package (function_package_path null): a zip deployment is written to the
#   deployment container by the platform, not from the app's subnet, and a denying storage firewall refuses it
#   (reported by users; no Azure document we could read says otherwise). Then upload the package from a network
#   on the allow-list.
# - Container Apps: the platform fetches the app's Key Vault secret itself, neither through the environment's
#   network (a service endpoint does not help) nor as a trusted service, and mounts the Azure Files share of
#   Redis with the account key from the platform too. Only private endpoints would let both deny, which this
#   module does not create: with compute = "container_apps" the vault and that storage stay open (RBAC and the
#   account key still guard them), and docs/azure.md says so.
# - compute = "none": nothing in Azure reads the vault; it denies by default once an allow-list is given (the
#   operator's and the Terraform runner's addresses must be on it: both write secrets).
locals {
  func_vnet          = local.func && var.function_subnet_id != null
  network_subnet_ids = concat(var.allowed_subnet_ids, local.func_vnet ? [var.function_subnet_id] : [])
  func_storage_deny  = local.func_vnet && var.function_package_path == null
  key_vault_deny     = local.func_vnet || (var.compute == "none" && length(var.allowed_ip_ranges) + length(var.allowed_subnet_ids) > 0)
  # Storage takes single addresses without /32 (Key Vault takes either).
  storage_ip_rules = [for r in var.allowed_ip_ranges : trimsuffix(r, "/32")]
}
