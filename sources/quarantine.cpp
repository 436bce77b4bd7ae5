#include "sources/quarantine.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/etp_model.h"

namespace etp2s {
namespace {

constexpr int kBackfillSlices = 2;  // quarantine is a small stream: two slices keep two fetchers busy

std::string text_at(const OrderedJson& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

Micros whole_second(Micros t) {
  return t - ((t % kMicrosPerSecond) + kMicrosPerSecond) % kMicrosPerSecond;
}

// The vendor's date format: UTC, whole seconds, no zone.
std::string quarantine_date(Micros t) {
  return format_vendor(whole_second(t)).substr(0, 19);
}

bool released(const OrderedJson& r) {
  auto it = r.find("released");
  if (it == r.end() || !it->is_array()) return false;
  for (const auto& x : *it) {
    if (x.is_object() && x.contains("is_released") && x["is_released"].is_boolean() &&
        x["is_released"].get<bool>())
      return true;
  }
  return false;
}

// The records of an answer: data[] or a bare array (the public record shows no sample of this envelope).
const OrderedJson* records_of(const OrderedJson& doc) {
  if (doc.is_array()) return &doc;
  auto it = doc.find("data");
  if (it != doc.end() && it->is_array()) return &*it;
  return nullptr;
}

class QuarantineReader final : public PageReader {
 public:
  QuarantineReader(std::shared_ptr<EtpClient> client, QuarantineCursor at, int size, RowLimits limits)
      : client_(std::move(client)), at_(std::move(at)), size_(size), limits_(limits) {}

  Result<SourcePage, EtpError> read_page() override {
    Micros top = at_.top.value_or(now_micros());
    OrderedJson body = {
        {"attributes",
         {{"date", {{"from_date", quarantine_date(at_.floor)}, {"to_date", quarantine_date(top)}}}}},
        {"size", size_}};
    auto doc = client_->post_json("/api/v1/quarantine", body.dump(), "ETP quarantine");
    if (!doc) return err(doc.error());
    const OrderedJson* records = records_of(doc.value());
    if (!records) {
      EtpError e;
      e.http_status = 200;
      e.message = "ETP quarantine: HTTP 200 without a data array; will retry";
      return err(std::move(e));
    }
    SourcePage page;
    page.records = records->size();
    std::optional<Micros> newest, oldest;
    for (const auto& r : *records) {
      auto t = r.is_object() ? parse_time(text_at(r, "timestamp_quarantine")) : std::nullopt;
      auto row = t ? quarantine_row(r, limits_) : std::nullopt;
      if (!row) {
        std::string raw = r.dump();
        page.rejected.push_back("quarantine record without a usable message_id or timestamp_quarantine");
        page.set_aside.push_back(
            {"quarantine|" + std::to_string(page.set_aside.size()), "unusable record", raw});
        continue;
      }
      if (*t > top + kMicrosPerSecond || *t < at_.floor) continue;  // outside what was asked: not ours
      newest = std::max(newest.value_or(*t), *t);
      oldest = std::min(oldest.value_or(*t), *t);
      if (!seen_.insert(row->key).second) continue;  // the inclusive boundary, read again
      page.rows.push_back(std::move(*row));
    }
    if (at_.live && newest) at_.mark = std::max(at_.mark.value_or(at_.floor), *newest);
    bool bottom = static_cast<int>(records->size()) < size_ || !oldest || *oldest <= at_.floor;
    if (!bottom && whole_second(*oldest) >= whole_second(top)) {
      // A full page on one second: the top cannot move down. Recorded as a gap, never looped on.
      page.gap =
          Gap{quarantine_date(top), records->size(),
              "more quarantined messages share one second than a page holds; resumed one second lower"};
      at_.top = whole_second(top) - kMicrosPerSecond;
    } else if (!bottom) {
      at_.top = whole_second(*oldest);  // inclusive: that second is read again, its repeats dropped above
    }
    if (bottom) {
      if (at_.live) {
        at_ = QuarantineCursor{true, std::max(at_.floor, at_.mark.value_or(at_.floor)), std::nullopt,
                               std::nullopt};
        page.caught_up = true;
      } else {
        page.reached_end = true;
      }
    }
    page.cursor = at_.encode();
    return page;
  }

 private:
  std::shared_ptr<EtpClient> client_;
  QuarantineCursor at_;
  int size_;
  RowLimits limits_;
  std::set<std::string> seen_;
};

class QuarantineSource final : public Source {
 public:
  explicit QuarantineSource(const SourceContext& ctx)
      : client_(ctx.client),
        limits_(ctx.limits),
        size_(std::min(200, ctx.config.etp_page_size)),
        sweep_h_(ctx.config.etp_quarantine_sweep_h) {}
  std::string name() const override { return kQuarantineSource; }
  std::string stream() const override { return kQuarantineTable; }
  std::string route() const override { return "quarantine"; }
  bool optional() const override {
    return true;
  }  // a key without the quarantine entitlement: this stream off
  Micros poll_interval() const override { return 5 * kMicrosPerSecond; }

  std::vector<Partition> plan(const PlanWindow& w) const override {
    std::vector<Partition> out;
    Micros now = whole_second(w.now_us);
    Micros start = now - static_cast<Micros>(w.backfill_days) * kMicrosPerDay;
    for (int i = 0; i < kBackfillSlices; ++i) {
      Partition p;
      char id[32];
      std::snprintf(id, sizeof id, "quarantine-%02d", i);
      p.id = id;
      p.source = kQuarantineSource;
      p.traffic_type = "any";
      p.start_us = whole_second(start + (now - start) * i / kBackfillSlices);
      p.end_us = whole_second(start + (now - start) * (i + 1) / kBackfillSlices);
      p.cursor = QuarantineCursor{false, p.start_us, *p.end_us - kMicrosPerSecond, std::nullopt}.encode();
      out.push_back(std::move(p));
    }
    Partition live;
    live.id = "quarantine-live";
    live.source = kQuarantineSource;
    live.traffic_type = "any";
    live.start_us = now;
    live.cursor = QuarantineCursor{true, now, std::nullopt, std::nullopt}.encode();
    out.push_back(std::move(live));
    return out;
  }

  std::unique_ptr<PageReader> open(const ReadScope& scope) override {
    auto at = QuarantineCursor::decode(scope.cursor);
    if (!at) return nullptr;  // not a cursor this source wrote: the fetcher stops with a message
    return std::make_unique<QuarantineReader>(client_, *at, size_, limits_);
  }

  // Releases do not move the quarantine time: sweep the last hours downwards, resuming where the last sweep
  // stopped (a sweep cursor this source wrote, still inside the window).
  std::optional<ReadScope> sweep_scope(const std::string& traffic_type, const std::string&,
                                       const std::string& sweep_cursor, int) const override {
    if (sweep_h_ <= 0) return std::nullopt;
    Micros floor = whole_second(now_micros()) - static_cast<Micros>(sweep_h_) * 3600 * kMicrosPerSecond;
    auto at = QuarantineCursor::decode(sweep_cursor);
    if (!at || at->live || !at->top || *at->top < floor)
      at = QuarantineCursor{false, floor, std::nullopt, std::nullopt};
    at->floor = floor;
    return ReadScope{traffic_type, at->encode(), std::nullopt};
  }

 private:
  std::shared_ptr<EtpClient> client_;
  RowLimits limits_;
  int size_;
  int sweep_h_;
};

}  // namespace

std::string QuarantineCursor::encode() const {
  std::string s = std::string("q1;") + (live ? "live" : "range") + ";floor=" + std::to_string(floor);
  if (top) s += ";top=" + std::to_string(*top);
  if (mark) s += ";mark=" + std::to_string(*mark);
  return s;
}

std::optional<QuarantineCursor> QuarantineCursor::decode(const std::string& text) {
  if (text.rfind("q1;", 0) != 0) return std::nullopt;
  QuarantineCursor c;
  bool floor_seen = false, mode_seen = false;
  std::size_t pos = 3;
  while (pos <= text.size()) {
    std::size_t end = text.find(';', pos);
    std::string part = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() + 1 : end + 1;
    if (part == "live" || part == "range") {
      c.live = part == "live";
      mode_seen = true;
      continue;
    }
    auto eq = part.find('=');
    if (eq == std::string::npos) return std::nullopt;
    Micros v = 0;
    try {
      std::size_t used = 0;
      v = std::stoll(part.substr(eq + 1), &used);
      if (used != part.size() - eq - 1) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
    std::string key = part.substr(0, eq);
    if (key == "floor") {
      c.floor = v;
      floor_seen = true;
    } else if (key == "top") {
      c.top = v;
    } else if (key == "mark") {
      c.mark = v;
    } else {
      return std::nullopt;
    }
  }
  if (!floor_seen || !mode_seen) return std::nullopt;
  return c;
}

std::optional<Row> quarantine_row(const OrderedJson& r, const RowLimits& limits) {
  if (!r.is_object()) return std::nullopt;
  std::string id = text_at(r, "message_id");
  auto t = parse_time(text_at(r, "timestamp_quarantine"));
  if (id.empty() || !t) return std::nullopt;
  bool is_released = released(r);
  const OrderedJson* recipients = r.contains("recipients") ? &r["recipients"] : nullptr;
  const OrderedJson* attachments = r.contains("attachments") ? &r["attachments"] : nullptr;
  const OrderedJson* rel = r.contains("released") ? &r["released"] : nullptr;
  return fit_row(
      [&](std::size_t field_limit) {
        RowWriter w(field_limit);
        w.time_us("TimeGenerated", *t);
        w.string("EtpMessageId", id);
        w.time_us("QuarantinedAt", *t);
        w.time("SentAt", text_at(r, "timestamp_sent"));
        w.string("From", text_at(r, "from"));
        w.string("To", text_at(r, "to"));
        w.string("Cc", text_at(r, "cc"));
        w.dynamic("Recipients", recipients);
        w.string("Subject", text_at(r, "subject"));
        w.string("Domain", text_at(r, "domain"));
        w.string("SenderDomain", text_at(r, "sender_domain"));
        w.string("SenderIp", text_at(r, "sender_ip"));
        w.string("CountryCode", text_at(r, "country_code"));
        w.string("VerdictAS", text_at(r, "verdict_as"));
        w.string("VerdictAV", text_at(r, "verdict_av"));
        w.string("VerdictEX", text_at(r, "verdict_ex"));
        w.string("VerdictPV", text_at(r, "verdict_pv"));
        w.string("Reason", text_at(r, "reason"));
        w.dynamic("Attachments", attachments);
        w.dynamic("Released", rel);
        w.boolean("IsReleased", &is_released);
        w.dynamic("RawRecord", &r);
        w.truncated_fields();
        w.string("ConnectorVersion", ETP2S_VERSION);
        std::vector<std::string> truncated = w.truncated();
        // A release is a new version of the same quarantined message.
        std::string key =
            "quarantine|" + id + "|" + std::to_string(*t) + (is_released ? "|released" : "|held");
        return Row{key, *t, w.finish(), std::move(truncated)};
      },
      limits);
}

std::unique_ptr<Source> make_quarantine_source(const SourceContext& ctx) {
  return std::make_unique<QuarantineSource>(ctx);
}

}  // namespace etp2s
