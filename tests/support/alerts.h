#pragma once
// Test helper: vendor-shaped alerts without a server.
#include <string>
#include <vector>

#include "common/etp_model.h"

namespace etp2s::testing {

inline Alert make_alert(int i, const std::string& subject = "Invoice overdue",
                        std::string traffic = "inbound") {
  char lmo[40];
  std::snprintf(lmo, sizeof lmo, "2026-11-20T10:%02d:%02d.%03d", (i / 60) % 60, i % 60, i % 1000);
  OrderedJson rec = {{"attributes",
                      {{"meta",
                        {{"read", false},
                         {"last_modified_on", lmo},
                         {"legacy_id", 85534366 + i},
                         {"acknowledged", i % 2 == 0},
                         {"last_malware", "yara|x"},
                         {"alert_type", "yara"}}},
                       {"ati", OrderedJson::object()},
                       {"alert",
                        {{"product", "ETP"},
                         {"alert_type", {"at"}},
                         {"malware_md5", "b2255f656c300f3e00e51b6d0e62a7bb"},
                         {"timestamp", "2026-11-20T10:00:00.036"},
                         {"sha256", "94e6"}}},
                       {"email",
                        {{"status", "quarantined"},
                         {"source_ip", "96.47.26.93"},
                         {"smtp", {{"rcpt_to", "userc@example.com"}, {"mail_from", "bounce@example.com"}}},
                         {"etp_message_id", "msg-" + std::to_string(i / 2)},
                         {"headers",
                          {{"cc", ""},
                           {"to", "userc@example.com"},
                           {"from", "News <news@example.com>"},
                           {"subject", subject}}},
                         {"attachment", "hxxp://x.example"},
                         {"timestamp", {{"accepted", "2026-11-20T09:59:41"}}}}}}},
                     {"id", "alert-" + std::to_string(i)}};
  auto page = parse_summary(OrderedJson{{"data", {rec}}}.dump(), traffic);
  return std::move(page.value().alerts.at(0));
}

}  // namespace etp2s::testing
