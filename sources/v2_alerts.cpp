#include "sources/v2_alerts.h"

#include <algorithm>

namespace etp2s {
namespace {

std::atomic<bool> g_v1_retired{false};

Micros floor_s(Micros t) {
  Micros r = t % kMicrosPerSecond;
  return r >= 0 ? t - r : t - r - kMicrosPerSecond;
}

std::string text_at(const OrderedJson& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

class V2Reader final : public PageReader {
 public:
  V2Reader(std::shared_ptr<EtpClient> client, V2ReadOptions o, const std::string& cursor, V2RecordRows rows)
      : client_(std::move(client)), o_(std::move(o)), rows_(std::move(rows)) {
    if (auto c = parse_v2_cursor(cursor)) {
      cursor_ = *c;
    } else {
      cursor_.at = o_.clock() - 90 * kMicrosPerDay;  // the vendor's retention
    }
    floor_ = parse_v2_cursor(o_.floor_cursor);
  }

  Result<SourcePage, EtpError> read_page() override {
    V2SearchQuery q;
    q.from_us = floor_s(cursor_.at);
    Micros head = o_.clock() + o_.future_allowance_us;
    q.to_us = floor_s(o_.end_us ? std::min(*o_.end_us - 1, head) : head);
    q.traffic_type = o_.traffic_type;
    q.domains = o_.domains;
    q.size = o_.size;
    q.search_after = cursor_.search_after;
    SourcePage out;
    if (q.to_us < q.from_us) {  // an empty range (the partition's end lies in the cursor's second)
      out.cursor = format_v2_cursor(cursor_);
      out.caught_up = true;
      out.reached_end = o_.end_us.has_value();
      return out;
    }
    auto page = client_->search_v2(q);
    if (!page) return err(page.error());
    out.records = page->alerts.size();
    out.repaired = page->repaired;
    set_aside_rejected(page->rejected, out);
    const std::size_t seen = page->alerts.size() + page->rejected.size();
    out.caught_up = seen < static_cast<std::size_t>(q.size);
    Micros newest = cursor_.at;
    for (const auto& a : page->alerts) {
      if (a.last_modified_us > head) {
        ++out.future_records;  // handed on, but never a reason to move the cursor (as with v1)
      } else {
        newest = std::max(newest, a.last_modified_us);
      }
      rows_(a, out);
    }
    if (seen > 0) {
      if (!page->search_after.is_null() && out.future_records == 0) {
        cursor_ = V2Cursor{newest, page->search_after};
      } else if (!out.caught_up && floor_s(newest) == floor_s(cursor_.at)) {
        // A full page on one second and no search_after to page past it: the vendor broke its own paging.
        // Never loop: record the second as a gap and go on after it.
        out.gap = Gap{format_vendor(floor_s(newest)), seen,
                      "the v2 search answered a full page without meta.search_after; resumed from the next "
                      "second"};
        cursor_ = V2Cursor{floor_s(newest) + kMicrosPerSecond, nullptr};
      } else {
        cursor_ = V2Cursor{newest, nullptr};  // re-reads the last second; the dedupe marks drop repeats
      }
    }
    out.cursor = format_v2_cursor(cursor_);
    if (floor_ && floor_s(cursor_.at) <= floor_s(floor_->at)) out.cursor = o_.floor_cursor;
    // The range is closed: a page short of its size has read it to its end.
    out.reached_end = out.caught_up && o_.end_us.has_value();
    return out;
  }

 private:
  std::shared_ptr<EtpClient> client_;
  V2ReadOptions o_;
  V2RecordRows rows_;
  V2Cursor cursor_;
  std::optional<V2Cursor> floor_;
};

}  // namespace

std::optional<V2Cursor> parse_v2_cursor(const std::string& cursor) {
  auto at = cursor_time(cursor);
  if (!at) return std::nullopt;
  V2Cursor c;
  c.at = *at;
  auto tilde = cursor.find('~');
  if (tilde != std::string::npos) {
    c.search_after = OrderedJson::parse(cursor.substr(tilde + 1), nullptr, false);
    if (c.search_after.is_discarded()) c.search_after = nullptr;  // re-reads the second: safe
  }
  return c;
}

std::string format_v2_cursor(const V2Cursor& c) {
  std::string out = format_vendor(c.at);
  if (!c.search_after.is_null()) out += "~" + c.search_after.dump();
  return out;
}

Row v2_alert_row(const Alert& a, const RowLimits& limits) {
  const OrderedJson& r = a.raw;
  const OrderedJson* malware = find_path(r, {"malware"});
  std::string first_malware;
  if (malware && malware->is_array() && !malware->empty() && (*malware)[0].is_object())
    first_malware = text_at((*malware)[0], "name");
  OrderedJson stypes = OrderedJson::array();
  if (malware && malware->is_array()) {
    for (const auto& m : *malware) {
      if (m.is_object() && m.contains("stype") && m["stype"].is_string()) stypes.push_back(m["stype"]);
    }
  }
  return fit_row(
      [&](std::size_t field_limit) {
        RowWriter w(field_limit);
        // Every column of the table in its order; what a search item does not carry is null.
        w.time_us("TimeGenerated", a.last_modified_us);
        w.string("AlertId", a.id);
        w.string("EtpMessageId", "");  // v2 search items carry none: FireEyeETPAlertDetails_CL brings it
        w.number_text("LegacyId", "");
        w.string("TrafficType", a.traffic_type);
        w.time("LastModifiedOn", "");  // v2 carries no modification time
        w.time_us("AlertTimestamp", a.last_modified_us);
        w.time("AcceptedTime", text_at(r, "accepted_time"));
        w.string("EmailStatus", text_at(r, "email_status"));
        w.dynamic("AlertTypes", &stypes);
        w.string("MetaAlertType", "");
        w.string("LastMalware", first_malware);
        w.string("MalwareMd5", text_at(r, "md5"));
        w.string("Sha256", text_at(r, "sha256"));
        for (const char* empty : {"SourceIp", "MailFrom", "RcptTo", "HeaderFrom", "HeaderTo", "HeaderCc",
                                  "Subject", "Attachment"})
          w.string(empty, "");
        w.boolean("Acknowledged", nullptr);
        w.boolean("Read", nullptr);
        w.dynamic("Ati", static_cast<const OrderedJson*>(nullptr));
        w.raw("Details", "null");
        w.dynamic("RawAlert", &r);
        w.truncated_fields();
        w.string("ConnectorVersion", ETP2S_VERSION);
        std::vector<std::string> truncated = w.truncated();
        return Row{version_key(a), a.last_modified_us, w.finish(), std::move(truncated)};
      },
      limits);
}

std::string v2_details_id(const std::string& traffic_type, const std::string& alert_id) {
  return "v2|" + traffic_type + "|" + alert_id;
}

DetailsId parse_details_id(const std::string& id) {
  DetailsId d;
  if (id.rfind("v2|", 0) != 0) {
    d.alert_id = id;
    return d;
  }
  auto bar = id.find('|', 3);
  if (bar == std::string::npos) {
    d.v2 = true;
    d.traffic_type = "inbound";
    d.alert_id = id.substr(3);
    return d;
  }
  d.v2 = true;
  d.traffic_type = id.substr(3, bar - 3);
  d.alert_id = id.substr(bar + 1);
  return d;
}

std::unique_ptr<PageReader> open_v2_reader(std::shared_ptr<EtpClient> client, V2ReadOptions o,
                                           const std::string& cursor, V2RecordRows rows) {
  return std::make_unique<V2Reader>(std::move(client), std::move(o), cursor, std::move(rows));
}

bool v1_known_retired() {
  return g_v1_retired.load();
}
bool mark_v1_retired_here() {
  return !g_v1_retired.exchange(true);
}
void reset_v1_retired_for_tests() {
  g_v1_retired = false;
}

}  // namespace etp2s
