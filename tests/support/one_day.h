#pragma once
// Test helper: a small, fast vendor for pipeline tests (one day of alerts, none late or modified, the
// stand-in's limit raised) and the settings that read it (inbound only, one fetcher, the budget raised, the
// alerts alone: no lookups).
#include <map>
#include <string>

#include "sim/etp/etp_sim.h"

namespace etp2s::testing {

inline sim::EtpSimOptions one_day_of_alerts(int alerts) {
  sim::EtpSimOptions o;
  o.alerts = alerts;
  o.days = 1;
  o.rate_limit_per_min = 100000;
  o.late_percent = 0;
  o.modified_percent = 0;
  return o;
}

inline std::map<std::string, std::string> one_day_env(const sim::EtpSim& etp, const std::string& api_key,
                                                      const std::string& redis_url) {
  return {{"ETP_BASE_URL", etp.base_url()},
          {"ETP_API_KEY", api_key},
          {"ETP_TRAFFIC_TYPES", "inbound"},
          {"ETP_BACKFILL_DAYS", "1"},
          {"ETP_RATE_LIMIT_PER_MIN", "100000"},
          {"ETP_RATE_LIMIT_OVERRIDE", "1"},
          {"FETCHERS", "1"},
          {"ETP_DETAILS", "off"},  // the alerts alone (the lookups have their own tests)
          {"ETP_TRACE", "off"},
          {"ETP_QUARANTINE", "off"},
          {"REDIS_URL", redis_url}};
}

}  // namespace etp2s::testing
