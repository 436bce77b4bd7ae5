#pragma once
// The v2 alert search (POST /api/v2/public/alerts/search) as a reader of the alert partitions, and what
// ETP_API=auto does when the vendor switches v1 off (docs/design.md, "The v2 alert search"). This file and
// v2_alerts.cpp are the only places that know the v2 search fields.
//
// A v2 search item carries no etp_message_id, no headers and no modification time: it becomes a row of
// FireEyeETPAlerts_CL at once (EtpMessageId empty, LastModifiedOn empty, AlertTimestamp = alert_date), and a
// details lookup (GET /api/v2/public/alerts/{id}, one request each on the same route) brings the message id
// into FireEyeETPAlertDetails_CL, where the parser joins it by AlertId.
#include <atomic>

#include "common/etp_model.h"
#include "sources/source.h"

namespace etp2s {

// A v2 read position: the alert_date of the last item handed on and the search's opaque `search_after` for
// it. Spelled "<vendor time>~<search_after as JSON>" (a plain time — a v1 cursor — reads from that second
// with no search_after: the place is kept across the switch from v1).
struct V2Cursor {
  Micros at = 0;
  OrderedJson search_after;  // null: from the start of the second `at`
};
std::optional<V2Cursor> parse_v2_cursor(const std::string& cursor);
std::string format_v2_cursor(const V2Cursor& c);

// One v2 search item → one row of FireEyeETPAlerts_CL.
Row v2_alert_row(const Alert& item, const RowLimits& limits = kLogsIngestionLimits);

// The details lookup of a v2 alert: its queue id is "v2|<traffic type>|<alert id>".
std::string v2_details_id(const std::string& traffic_type, const std::string& alert_id);
// The alert id and traffic type of a details queue id; `v2` false for a v1 id (the alert id alone).
struct DetailsId {
  bool v2 = false;
  std::string traffic_type, alert_id;
};
DetailsId parse_details_id(const std::string& id);

struct V2ReadOptions {
  std::string traffic_type = "inbound";
  std::vector<std::string> domains;  // domain[]; empty: every domain
  int size = 200;
  std::optional<Micros> end_us;  // exclusive; none: up to now (+ the clock-skew allowance)
  std::string floor_cursor;      // never report a cursor below it (the held-back poll)
  Micros future_allowance_us = 5 * 60 * kMicrosPerSecond;
  Clock clock = now_micros;
};
using V2RecordRows = std::function<void(const Alert&, SourcePage&)>;
std::unique_ptr<PageReader> open_v2_reader(std::shared_ptr<EtpClient> client, V2ReadOptions o,
                                           const std::string& cursor, V2RecordRows rows);

// Whether the vendor has switched v1 off, as far as this process knows (ETP_API=auto). Seen once by any
// fetcher, it is recorded in Redis (StateStore::set_v1_retired) and every fetcher reads through v2 from its
// next lease on. Sticky: to read v1 again, set ETP_API=v1 (and delete etp:v1_retired).
bool v1_known_retired();
// This process; true if it did not know before (tests reset it with reset_v1_retired_for_tests).
bool mark_v1_retired_here();
void reset_v1_retired_for_tests();

}  // namespace etp2s
