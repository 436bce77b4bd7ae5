# The Sentinel content of deploy/sentinel - the same files CI analyses with the Kusto language service - deployed
# into the workspace: every parser as a workspace function, every analytics rule as a scheduled rule, the hunting
# queries, the workbook.
locals {
  content_dir = "${path.module}/../../sentinel"
  parsers = var.deploy_sentinel_content ? {
    for f in fileset(local.content_dir, "parsers/*.yaml") : trimsuffix(basename(f), ".yaml") => yamldecode(file("${local.content_dir}/${f}"))
  } : {}
  rules = var.deploy_sentinel_content ? {
    for f in fileset(local.content_dir, "analytics/*.yaml") : trimsuffix(basename(f), ".yaml") => yamldecode(file("${local.content_dir}/${f}"))
  } : {}
  hunting = var.deploy_sentinel_content ? {
    for f in fileset(local.content_dir, "hunting/*.yaml") : trimsuffix(basename(f), ".yaml") => yamldecode(file("${local.content_dir}/${f}"))
  } : {}
  # Azure-Sentinel YAML spells durations 5m / 1h / 2d; the API wants ISO 8601 (PT5M / PT1H / P2D).
  iso_unit         = { m = "M", h = "H", d = "D" }
  trigger_operator = { gt = "GreaterThan", lt = "LessThan", eq = "Equal", ne = "NotEqual" }
}

# One workspace function per parser file. Parsers may call each other (FireEyeETPAlerts joins
# FireEyeETPAlertDetails); the rules, hunting queries and the workbook are created after all of them.
resource "azurerm_log_analytics_saved_search" "parser" {
  for_each                   = local.parsers
  name                       = each.value.FunctionName
  log_analytics_workspace_id = local.workspace_id
  category                   = "Microsoft Sentinel Parser"
  display_name               = each.value.Function.Title
  function_alias             = each.value.FunctionAlias
  query                      = each.value.FunctionQuery
  depends_on                 = [azapi_resource.table]
}

# The single parser used to be count-indexed.
moved {
  from = azurerm_log_analytics_saved_search.parser[0]
  to   = azurerm_log_analytics_saved_search.parser["FireEyeETPAlerts"]
}

resource "azurerm_sentinel_alert_rule_scheduled" "etp" {
  for_each                   = local.rules
  name                       = each.value.id
  log_analytics_workspace_id = local.workspace_id
  display_name               = each.value.name
  description                = trimspace(each.value.description)
  severity                   = each.value.severity
  query                      = each.value.query
  query_frequency            = "${endswith(each.value.queryFrequency, "d") ? "P" : "PT"}${trimsuffix(each.value.queryFrequency, substr(each.value.queryFrequency, -1, 1))}${local.iso_unit[substr(each.value.queryFrequency, -1, 1)]}"
  query_period               = "${endswith(each.value.queryPeriod, "d") ? "P" : "PT"}${trimsuffix(each.value.queryPeriod, substr(each.value.queryPeriod, -1, 1))}${local.iso_unit[substr(each.value.queryPeriod, -1, 1)]}"
  trigger_operator           = local.trigger_operator[each.value.triggerOperator]
  trigger_threshold          = each.value.triggerThreshold
  tactics                    = each.value.tactics
  techniques                 = distinct([for t in each.value.relevantTechniques : split(".", t)[0]])
  custom_details             = try(each.value.customDetails, null)

  dynamic "entity_mapping" {
    for_each = try(each.value.entityMappings, [])
    content {
      entity_type = entity_mapping.value.entityType
      dynamic "field_mapping" {
        for_each = entity_mapping.value.fieldMappings
        content {
          identifier  = field_mapping.value.identifier
          column_name = field_mapping.value.columnName
        }
      }
    }
  }

  dynamic "alert_details_override" {
    for_each = can(each.value.alertDetailsOverride) ? [each.value.alertDetailsOverride] : []
    content {
      display_name_format = try(alert_details_override.value.alertDisplayNameFormat, null)
      description_format  = try(alert_details_override.value.alertDescriptionFormat, null)
    }
  }

  incident {
    create_incident_enabled = each.value.incidentConfiguration.createIncident
    grouping {
      enabled                 = each.value.incidentConfiguration.groupingConfiguration.enabled
      lookback_duration       = "${endswith(each.value.incidentConfiguration.groupingConfiguration.lookbackDuration, "d") ? "P" : "PT"}${upper(each.value.incidentConfiguration.groupingConfiguration.lookbackDuration)}"
      reopen_closed_incidents = each.value.incidentConfiguration.groupingConfiguration.reopenClosedIncident
      entity_matching_method  = each.value.incidentConfiguration.groupingConfiguration.matchingMethod
      by_entities             = each.value.incidentConfiguration.groupingConfiguration.groupByEntities
      by_alert_details        = each.value.incidentConfiguration.groupingConfiguration.groupByAlertDetails
      by_custom_details       = each.value.incidentConfiguration.groupingConfiguration.groupByCustomDetails
    }
  }

  event_grouping {
    aggregation_method = each.value.eventGroupingSettings.aggregationKind
  }

  # Rules need the table (and the parser) to exist, and Sentinel to be on.
  depends_on = [azurerm_log_analytics_saved_search.parser, azurerm_sentinel_log_analytics_workspace_onboarding.etp]
}

# Hunting queries appear in Sentinel > Hunting as saved searches of that category, tactics as a tag.
resource "azurerm_log_analytics_saved_search" "hunting" {
  for_each                   = local.hunting
  name                       = each.value.id
  log_analytics_workspace_id = local.workspace_id
  category                   = "Hunting Queries"
  display_name               = each.value.name
  query                      = each.value.query
  tags = {
    description = substr(replace(trimspace(each.value.description), "\n", " "), 0, 250)
    tactics     = join(",", each.value.tactics)
    techniques  = join(",", each.value.relevantTechniques)
  }
  depends_on = [azurerm_log_analytics_saved_search.parser]
}

resource "azurerm_application_insights_workbook" "etp" {
  count               = var.deploy_sentinel_content ? 1 : 0
  name                = uuidv5("url", "etp2sentinel/workbooks/FireEyeETPAlerts/${local.workspace_id}")
  resource_group_name = azurerm_resource_group.etp.name
  location            = azurerm_resource_group.etp.location
  display_name        = "FireEye ETP alerts (etp2sentinel)"
  category            = "sentinel"
  source_id           = lower(local.workspace_id)
  data_json           = file("${local.content_dir}/workbooks/FireEyeETPAlerts.json")
  tags                = var.tags
  depends_on          = [azurerm_log_analytics_saved_search.parser]
}

# The VIP rule reads _GetWatchlist('VIPUsers'), Sentinel's "VIP Users" template alias (SearchKey: the address).
resource "azurerm_sentinel_watchlist" "vip" {
  count                      = var.deploy_sentinel_content && length(var.vip_recipients) > 0 ? 1 : 0
  name                       = "VIPUsers"
  log_analytics_workspace_id = local.workspace_id
  display_name               = "VIP Users"
  description                = "Recipients whose alerted mail always raises an incident (etp2sentinel VIP rule)."
  item_search_key            = "User Principal Name"
  depends_on                 = [azurerm_sentinel_log_analytics_workspace_onboarding.etp]
}

resource "azurerm_sentinel_watchlist_item" "vip" {
  for_each     = var.deploy_sentinel_content && length(var.vip_recipients) > 0 ? toset([for a in var.vip_recipients : lower(a)]) : toset([])
  name         = uuidv5("url", "etp2sentinel/vip/${each.value}")
  watchlist_id = azurerm_sentinel_watchlist.vip[0].id
  properties   = { "User Principal Name" = each.value }
}
