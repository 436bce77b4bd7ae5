#include "sim/etp/etp_sim.h"

#include <httplib.h>

#include "sim/serve.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "common/encoding.h"
#include "common/timefmt.h"

namespace etp2s::sim {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr Micros kWindow = 60 * kMicrosPerSecond;

const char* kSubjects[] = {
    "Invoice 4471 overdue",
    "Überweisung bestätigen – 請確認 💸",
    "\"quoted\" \\ back\\slash </script><script>alert(1)</script> ' OR 1=1 --",
    "line one\nline two\r\n\ttabbed \u0001 control",
    "Zero\u0000Width\u200b joiner \u202e RTL override",
    "Your mailbox is full",
    "Проверка безопасности аккаунта",
    "",
};
const char* kDomains[] = {"contoso.test", "fabrikam.test", "northwind.test", "woodgrove.test"};
const char* kStatuses[] = {"quarantined", "delivered",   "ACE: Passthrough",
                           "dropped",     "bcc:dropped", "delivered (retroactive)",
                           "rejected",    "scanned"};
const char* kAlertTypes[] = {"at", "av", "yara", "block_list_match", "ms"};

struct AlertRec {
  std::string id, msg_id, traffic, status;
  std::uint32_t domain = 0, subject = 0, types = 0;
  std::uint64_t legacy = 0;
  Micros created = 0, lmo = 0, visible_at = 0;
  bool read = false, ack = false, huge = false;
};

// A message without an alert: seen only in the whole trace stream.
struct MsgRec {
  std::string msg_id, traffic, status;
  std::uint32_t domain = 0, subject = 0;
  std::uint64_t legacy = 0;
  Micros created = 0, lmo = 0;
};

struct Key {
  Micros lmo;
  std::string id;
  std::uint32_t idx;
  bool operator<(const Key& o) const { return lmo != o.lmo ? lmo < o.lmo : id < o.id; }
};

// v2's sort key: (alert_date, id), alert_date being the creation time floored to the second.
struct V2Key {
  Micros second;
  std::string id;
  std::uint32_t idx;
  bool operator<(const V2Key& o) const { return second != o.second ? second < o.second : id < o.id; }
};

Micros floor_second(Micros t) {
  Micros r = t % kMicrosPerSecond;
  return r < 0 ? t - r - kMicrosPerSecond : t - r;
}

// RFC 3339, whole seconds, UTC: 2026-11-23T10:15:00Z (v2's times).
std::string format_rfc3339_s(Micros t) {
  return format_iso_ms(floor_second(t)).substr(0, 19) + "Z";
}

// v2 takes RFC 3339 only: a date, 'T', a time (a fractional part allowed), and Z or an offset (+00:00). Then
// parse_time reads it.
std::optional<Micros> parse_rfc3339(const std::string& text) {
  static const std::regex kRfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))");
  if (!std::regex_match(text, kRfc3339)) return std::nullopt;
  return parse_time(text);
}

struct RouteStats {
  std::uint64_t requests = 0, rate_limited = 0, ok = 0, errors = 0;
  std::deque<Micros> arrivals;  // within the last 60 s
  std::size_t max_in_60s = 0;
  std::deque<Micros> accepted;  // for the limiter
  std::map<int, std::uint64_t> by_status;
};

struct Faults {
  int latency_ms = 0, jitter_ms = 0;
  double rate_5xx = 0, rate_garbage = 0, rate_drop = 0;
  std::deque<std::string> script;  // next responses: 500, 502, 429, garbage, drop, badkey500, ok
  // Alert ids whose every summary page comes back cut off (a record the vendor cannot serialise): the page
  // fails the same way however often it is asked for.
  std::set<std::string> poison;
};

std::string hexid(std::mt19937_64& rng, int n) {
  static const char* h = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(h[rng() & 15]);
  return s;
}

}  // namespace

struct EtpSim::Impl {
  EtpSimOptions opt;
  httplib::Server server;
  ServerThread serving;
  int port = 0;

  mutable std::shared_mutex data_mu;
  std::vector<AlertRec> alerts;
  std::unordered_map<std::string, std::uint32_t> by_id;
  std::unordered_map<std::string, std::uint32_t> by_msg;  // etp_message_id → its first alert (the trace)
  std::map<std::string, std::vector<Key>> index;          // per traffic type, sorted
  std::map<std::string, std::vector<V2Key>> v2_index;     // per traffic type, sorted (created never changes)
  std::vector<MsgRec> clean;                              // messages without an alert, by (lmo, id)
  std::mt19937_64 rng;

  mutable std::mutex stats_mu;
  std::map<std::string, RouteStats> routes;
  std::uint64_t token_requests = 0;
  std::map<std::string, Micros> tokens;
  Faults faults;
  int rate_limit = 60;
  int token_ttl_s = 3600;
  bool trace_forbidden = false;  // the key lacks the trace entitlement: 403 on /trace
  bool quarantine_forbidden = false;
  int retire_v1 = 0;                  // 0, or the status (404, 410) the retired v1 alert routes answer
  bool v2_details_unwrapped = false;  // v2 details without the {"data": ...} wrapper
  std::mt19937_64 fault_rng{7};

  explicit Impl(EtpSimOptions o) : opt(std::move(o)), rng(opt.seed) {
    rate_limit = opt.rate_limit_per_min;
    token_ttl_s = opt.token_ttl_s;
    faults.latency_ms = opt.latency_ms;
    faults.jitter_ms = opt.jitter_ms;
    retire_v1 = checked_retire_status(opt.retire_v1);
    v2_details_unwrapped = opt.v2_details_unwrapped;
    generate();
  }

  static int checked_retire_status(int status) {
    if (status != 0 && status != 404 && status != 410)
      throw std::invalid_argument("retire_v1 must be 0, 404 or 410, not " + std::to_string(status));
    return status;
  }

  // ---- data ----
  AlertRec make(Micros lmo, const std::string& traffic) {
    AlertRec a;
    std::string tenant = "3yINFWA-" + std::to_string(1111000 + rng() % 1000);
    a.msg_id = tenant + "-" + hexid(rng, 24);
    a.id = tenant + "-" + hexid(rng, 8) + "-" + hexid(rng, 4) + "-" + hexid(rng, 4) + "-" + hexid(rng, 12);
    a.traffic = traffic;
    a.domain = static_cast<std::uint32_t>(rng() % 4);
    a.subject = static_cast<std::uint32_t>(rng() % (sizeof kSubjects / sizeof *kSubjects));
    a.types = static_cast<std::uint32_t>(1 + rng() % 3);
    a.status = kStatuses[rng() % (sizeof kStatuses / sizeof *kStatuses)];
    a.legacy = 50000000 + rng() % 40000000;
    a.created = lmo - static_cast<Micros>(rng() % 2000) * 1000;
    a.lmo = lmo;
    a.visible_at = lmo;
    a.huge = opt.huge_subject_bytes > 0 && rng() % 1000 == 0;
    return a;
  }

  void insert(AlertRec a) {
    auto idx = static_cast<std::uint32_t>(alerts.size());
    auto& v = index[a.traffic];
    Key k{a.lmo, a.id, idx};
    v.insert(std::upper_bound(v.begin(), v.end(), k), k);
    auto& v2 = v2_index[a.traffic];
    V2Key k2{floor_second(a.created), a.id, idx};
    v2.insert(std::upper_bound(v2.begin(), v2.end(), k2), k2);
    by_id[a.id] = idx;
    by_msg.try_emplace(a.msg_id, idx);
    alerts.push_back(std::move(a));
  }

  void generate() {
    Micros now = now_micros() / 1000 * 1000;
    Micros span = static_cast<Micros>(opt.days) * kMicrosPerDay;
    Micros start = now - span;
    std::vector<AlertRec> batch;
    batch.reserve(static_cast<std::size_t>(opt.alerts));
    const int in_campaign = opt.alerts * std::clamp(opt.campaign_percent, 0, 100) / 100;
    const Micros campaign_start = start + span / 4;
    const Micros campaign_span = std::min<Micros>(
        static_cast<Micros>(std::max(1, opt.campaign_hours)) * 3600 * kMicrosPerSecond, span / 2);
    for (int i = 0; i < opt.alerts; ++i) {
      // The campaign's alerts, spread evenly over it, among the rest spread evenly over the window (in time
      // order).
      Micros lmo;
      if (in_campaign == 0) {
        lmo = start + static_cast<Micros>(static_cast<double>(span) * (i + 0.5) / opt.alerts);
      } else if (i < in_campaign) {
        lmo = campaign_start +
              static_cast<Micros>(static_cast<double>(campaign_span) * (i + 0.5) / in_campaign);
      } else {
        int k = i - in_campaign, rest = opt.alerts - in_campaign;
        lmo = start + static_cast<Micros>(static_cast<double>(span) * (k + 0.5) / rest);
      }
      lmo = lmo / 1000 * 1000;
      std::string traffic = rng() % 10 < 7 ? "inbound" : "outbound";
      AlertRec a = make(lmo, traffic);
      if (i > 0 && rng() % 10 == 0 && batch.back().traffic == traffic) {
        a.msg_id = batch.back().msg_id;  // a second alert on the same email
      }
      if (static_cast<int>(rng() % 100) < opt.modified_percent) {
        // Modified later (released, read, acknowledged): the alert now carries a later last_modified_on.
        Micros later = lmo + static_cast<Micros>(60 + rng() % 7200) * kMicrosPerSecond;
        if (later < now) {
          a.lmo = later;
          a.status = "released";
          a.read = true;
          a.ack = true;
        }
      }
      if (static_cast<int>(rng() % 100) < opt.late_percent) {
        a.visible_at = a.lmo + static_cast<Micros>(10 + rng() % 170) * kMicrosPerSecond;
      }
      batch.push_back(std::move(a));
    }
    if (opt.tie_burst > 0) {
      Micros tie = (start + span / 2) / 1000 * 1000;
      // Created within one second (the one before the tie's), so that v2's alert_date ties as well.
      Micros created_second = floor_second(tie) - kMicrosPerSecond;
      for (int i = 0; i < opt.tie_burst; ++i) {
        AlertRec a = make(tie, "inbound");
        a.created = created_second + (a.created - floor_second(a.created));
        if (opt.tie_uniform) {
          a.status = "delivered";  // (not quarantined: the quarantine's own tie is another test's)
          a.types = 1;
          a.subject = 0;  // the alert types are picked from the subject
        }
        batch.push_back(std::move(a));
      }
    }
    if (in_campaign > 0)  // inserted in time order: each insert then lands at the end of the index
      std::stable_sort(batch.begin(), batch.end(),
                       [](const AlertRec& x, const AlertRec& y) { return x.lmo < y.lmo; });
    for (auto& a : batch) insert(std::move(a));
    generate_clean(start, span);
  }

  // Messages without an alert, from their own random sequence (the alerts stay what they were without them).
  void generate_clean(Micros start, Micros span) {
    int n = opt.clean_messages < 0 ? opt.alerts : opt.clean_messages;
    std::mt19937_64 r(opt.seed * 7919 + 1);
    const char* statuses[] = {"delivered", "scanned", "accepted", "delivered"};
    clean.reserve(static_cast<std::size_t>(std::max(0, n)));
    for (int i = 0; i < n; ++i) {
      MsgRec m;
      m.lmo = (start + static_cast<Micros>(static_cast<double>(span) * (i + 0.25) / n)) / 1000 * 1000;
      m.created = m.lmo - static_cast<Micros>(r() % 3000) * 1000;
      m.traffic = r() % 10 < 7 ? "inbound" : "outbound";
      m.msg_id = "3yCLEAN-" + std::to_string(2222000 + r() % 1000) + "-" + hexid(r, 24);
      m.status = statuses[r() % 4];
      m.domain = static_cast<std::uint32_t>(r() % 4);
      m.subject = static_cast<std::uint32_t>(r() % (sizeof kSubjects / sizeof *kSubjects));
      m.legacy = 10000000 + r() % 40000000;
      clean.push_back(std::move(m));
    }
    std::sort(clean.begin(), clean.end(), [](const MsgRec& x, const MsgRec& y) {
      return x.lmo != y.lmo ? x.lmo < y.lmo : x.msg_id < y.msg_id;
    });
  }

  ojson render(const AlertRec& a, bool details) const {
    std::string subject = kSubjects[a.subject];
    if (a.huge) subject = std::string(static_cast<std::size_t>(opt.huge_subject_bytes), 'S');
    std::string rcpt = std::string("user") + static_cast<char>('a' + a.subject) + "@" + kDomains[a.domain];
    ojson types = ojson::array();
    for (std::uint32_t t = 0; t < a.types; ++t) types.push_back(kAlertTypes[(a.subject + t) % 5]);
    ojson alert = {{"product", "ETP"},
                   {"alert_type", types},
                   {"malware_md5", hex(sha256(a.id)).substr(0, 32)},
                   {"timestamp", format_vendor(a.created)},
                   {"sha256", hex(sha256(a.msg_id))}};
    if (details) {
      alert["severity"] = a.subject % 2 ? "majr" : "crit";
      alert["action"] = a.status == "quarantined" ? "blocked" : "notified";
      alert["name"] = "MALWARE_OBJECT";
      alert["ack"] = a.ack ? "yes" : "no";
      alert["explanation"] = {{"malware_detected",
                               {{"malware", ojson::array({{{"name", "Phish.LIVE.DTI.URL"},
                                                           {"stype", "known-malware"},
                                                           {"md5sum", hex(sha256(a.id)).substr(0, 32)},
                                                           {"sha256", hex(sha256(a.msg_id))},
                                                           {"type", "link"},
                                                           {"downloaded_at", format_vendor(a.created)}}})}}},
                              {"os_changes", ojson::array()},
                              {"cnc_services", ojson::object()}};
    }
    ojson rec = {
        {"attributes",
         {{"meta",
           {{"read", a.read},
            {"last_modified_on", format_vendor(a.lmo)},
            {"legacy_id", a.legacy},
            {"acknowledged", a.ack},
            {"timestamps",
             {{"db_insert_time", format_vendor(a.created) + "000+00"},
              {"es_insert_time", format_vendor(a.lmo)}}},
            {"last_malware", "yara|yara_simple_eg.yara|AsciiExample_1 and 1 more"},
            {"alert_type", types[0]}}},
          {"ati", ojson::object()},
          {"alert", alert},
          {"email",
           {{"status", a.status},
            {"source_ip", "198.51.100." + std::to_string(a.legacy % 250)},
            {"smtp",
             {{"rcpt_to", rcpt},
              // outbound mail is sent by the tenant's own user (its domain); inbound comes from outside
              {"mail_from", a.traffic == "outbound"
                                ? rcpt
                                : "bounce@sender" + std::to_string(a.legacy % 17) + ".example"}}},
            {"etp_message_id", a.msg_id},
            {"headers",
             {{"cc", ""}, {"to", rcpt}, {"from", "Sender <news@example.com>"}, {"subject", subject}}},
            {"attachment", "hxxp://malicious.example/" + std::to_string(a.legacy)},
            {"timestamp", {{"accepted", format_vendor(a.created).substr(0, 19)}}}}}}},
        {"id", a.id},
        {"links", {{"detail", "/api/v1/alerts/" + a.id}}},
        {"unknown_future_field", {{"x", 1}}}};
    return rec;
  }

  static bool matches(const AlertRec& a, const ojson& attrs) {
    if (!attrs.is_object()) return true;
    if (auto it = attrs.find("legacy_id");
        it != attrs.end() && it->is_number() && it->get<std::uint64_t>() != a.legacy)
      return false;
    if (auto it = attrs.find("etp_message_id");
        it != attrs.end() && it->is_string() && it->get<std::string>() != a.msg_id)
      return false;
    if (auto it = attrs.find("email_status"); it != attrs.end() && it->is_array()) {
      bool any = false;
      for (const auto& s : *it) any = any || (s.is_string() && s.get<std::string>() == a.status);
      if (!any) return false;
    }
    if (auto it = attrs.find("alert_types"); it != attrs.end() && it->is_array()) {
      bool any = false;
      for (const auto& s : *it) {
        for (std::uint32_t t = 0; t < a.types; ++t)
          any = any || (s.is_string() && s == kAlertTypes[(a.subject + t) % 5]);
      }
      if (!any) return false;
    }
    return true;
  }

  // ---- http helpers ----
  static void error_body(httplib::Response& res, int status, const std::string& title,
                         const std::string& detail, const std::string& code) {
    ojson body = {
        {"errors",
         ojson::array(
             {{{"status", std::to_string(status)}, {"title", title}, {"detail", detail}, {"code", code}}})},
        {"meta", {{"copyright", "Copyright 2026 etp-sim"}}}};
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }

  // Counts the request, applies faults, auth and the limiter. Returns false if the response is already set.
  bool admit(const std::string& route, const httplib::Request& req, httplib::Response& res) {
    Micros now = now_micros();
    std::string fault;
    int delay_ms = 0;
    {
      std::lock_guard lock(stats_mu);
      auto& r = routes[route];
      ++r.requests;
      r.arrivals.push_back(now);
      while (!r.arrivals.empty() && r.arrivals.front() <= now - kWindow) r.arrivals.pop_front();
      r.max_in_60s = std::max(r.max_in_60s, r.arrivals.size());
      if (!faults.script.empty()) {
        fault = faults.script.front();
        faults.script.pop_front();
      } else {
        std::uniform_real_distribution<double> u(0, 1);
        double x = u(fault_rng);
        if (x < faults.rate_5xx)
          fault = "502";
        else if (x < faults.rate_5xx + faults.rate_garbage)
          fault = "garbage";
        else if (x < faults.rate_5xx + faults.rate_garbage + faults.rate_drop)
          fault = "drop";
      }
      delay_ms = faults.latency_ms;
      if (faults.jitter_ms > 0) {
        delay_ms += static_cast<int>(fault_rng() % static_cast<std::uint64_t>(2 * faults.jitter_ms + 1)) -
                    faults.jitter_ms;
      }
    }
    if (!authorized(req, res)) return finish(route, res);
    {
      std::lock_guard lock(stats_mu);
      auto& r = routes[route];
      while (!r.accepted.empty() && r.accepted.front() <= now - kWindow) r.accepted.pop_front();
      if (fault == "429" || static_cast<int>(r.accepted.size()) >= rate_limit) {
        ++r.rate_limited;
        // A scripted 429 (a burst injected by a test) asks for 2 s; the real limiter for the time until a
        // slot frees.
        Micros wait =
            fault == "429" || r.accepted.empty() ? 2 * kMicrosPerSecond : r.accepted.front() + kWindow - now;
        res.set_header("Retry-After",
                       std::to_string(std::max<Micros>(1, (wait + kMicrosPerSecond - 1) / kMicrosPerSecond)));
        error_body(res, 429, "Too Many Requests",
                   "rate limit exceeded: " + std::to_string(rate_limit) + " requests per minute for " + route,
                   "ETP-1429");
        ++r.by_status[429];
        return false;
      }
      r.accepted.push_back(now);
    }
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (fault == "500" || fault == "502" || fault == "503") {
      error_body(res, std::stoi(fault), "Server Error", "upstream failure", "ETP-5000");
      return finish(route, res);
    }
    if (fault == "badkey500") {
      error_body(res, 500, "Internal Server Error", "Invalid API key", "ETP-1001");
      return finish(route, res);
    }
    if (fault == "garbage") {
      res.status = 200;
      res.set_content(R"({"data": [{"id": "3yINFWA-trunc", "attributes": {"meta": {"last_modif)",
                      "application/json");
      return finish(route, res);
    }
    if (fault == "drop") {
      res.status = 200;
      res.set_content_provider(4096, "application/json",
                               [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
      return finish(route, res);
    }
    return true;
  }

  bool finish(const std::string& route, httplib::Response& res) {
    std::lock_guard lock(stats_mu);
    ++routes[route].by_status[res.status];
    return false;
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("x-fireeye-api-key")) {
      if (req.get_header_value("x-fireeye-api-key") == opt.api_key) return true;
      error_body(res, 401, "Unauthorized", "invalid or expired API key", "ETP-1401");
      return false;
    }
    std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) {
      std::lock_guard lock(stats_mu);
      auto it = tokens.find(auth.substr(7));
      if (it != tokens.end() && it->second > now_micros()) return true;
      error_body(res, 401, "Unauthorized", it == tokens.end() ? "unknown token" : "token expired",
                 "ETP-1401");
      return false;
    }
    error_body(res, 401, "Unauthorized", "missing credentials", "ETP-1401");
    return false;
  }

  // ---- routes ----
  // A retired v1 alert route (fault retire_v1): admitted like any request (auth, limiter, faults: the
  // gateway is still in front of it), then answered 404 or 410 with an error envelope, and counted.
  bool retired_v1(httplib::Response& res) {
    int status = 0;
    {
      std::lock_guard lock(stats_mu);
      status = retire_v1;
    }
    if (status == 0) return false;
    error_body(res, status, status == 410 ? "Gone" : "Not Found",
               "this API version has been retired; use /api/v2/public/alerts",
               "ETP-1" + std::to_string(status));
    count(res);
    return true;
  }

  void summary(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/alerts", req, res)) return;
    if (retired_v1(res)) return;
    ojson body = req.body.empty() ? ojson::object() : ojson::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return error_body(res, 400, "Bad Request", "request body is not a JSON object", "ETP-1400"), count(res);
    }
    // The same options as query parameters.
    if (req.has_param("size")) body["size"] = std::atoi(req.get_param_value("size").c_str());
    if (req.has_param("traffic_type")) body["traffic_type"] = req.get_param_value("traffic_type");
    if (req.has_param("from_LastModifiedOn"))
      body["fromLastModifiedOn"] = req.get_param_value("from_LastModifiedOn");
    int size = body.contains("size") && body["size"].is_number() ? body["size"].get<int>() : 20;
    if (size > 200)
      return error_body(res, 400, "Bad Request", "response size exceeded", "ETP-1413"), count(res);
    std::string traffic = body.value("traffic_type", std::string("inbound"));
    if (traffic != "inbound" && traffic != "outbound") {
      return error_body(res, 400, "Bad Request", "invalid traffic_type", "ETP-1400"), count(res);
    }
    Micros now = now_micros();
    Micros from = now - 90 * kMicrosPerDay;
    if (body.contains("fromLastModifiedOn")) {
      auto t = body["fromLastModifiedOn"].is_string()
                   ? parse_time(body["fromLastModifiedOn"].get<std::string>())
                   : std::nullopt;
      if (!t)
        return error_body(res, 400, "Bad Request", "invalid fromLastModifiedOn", "ETP-1400"), count(res);
      from = std::max(*t, now - 90 * kMicrosPerDay);
    }
    ojson attrs = body.contains("attributes") ? body["attributes"] : body.value("attribute", ojson::object());

    ojson data = ojson::array();
    std::int64_t total = 0;
    {
      std::shared_lock lock(data_mu);
      const auto& v = index[traffic];
      auto it = std::lower_bound(v.begin(), v.end(), Key{from, "", 0});
      bool filtered = attrs.is_object() && !attrs.empty();
      if (!filtered) total = static_cast<std::int64_t>(v.end() - it);
      for (; it != v.end(); ++it) {
        const AlertRec& a = alerts[it->idx];
        if (a.visible_at > now || !matches(a, attrs)) continue;
        if (filtered) ++total;
        if (static_cast<int>(data.size()) < size)
          data.push_back(render(a, false));
        else if (!filtered)
          break;
      }
    }
    bool poisoned = false;
    {
      std::lock_guard lock(stats_mu);
      for (const auto& a : data) poisoned = poisoned || faults.poison.count(a["id"].get<std::string>()) > 0;
    }
    if (poisoned) {
      std::string cut = ojson{{"data", data}}.dump();
      res.status = 200;
      res.set_content(cut.substr(0, cut.size() / 2), "application/json");
      return count(res);
    }
    ojson meta = {{"total", total}, {"size", data.size()}};
    if (!data.empty()) {
      meta["fromLastModifiedOn"] = {{"start", data.front()["attributes"]["meta"]["last_modified_on"]},
                                    {"end", data.back()["attributes"]["meta"]["last_modified_on"]}};
    }
    meta["copyright"] = "Copyright 2026 etp-sim";
    ojson out = {{"data", size <= 0 ? ojson::array() : data}, {"meta", meta}, {"type", "alerts"}};
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res);
  }

  void details(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/alerts", req, res)) return;
    if (retired_v1(res)) return;
    std::string id = req.matches[1];
    ojson out = {{"data", ojson::array()}, {"meta", {{"total", 0}}}, {"type", "alerts"}};
    {
      std::shared_lock lock(data_mu);
      auto it = by_id.find(id);
      if (it != by_id.end() && alerts[it->second].visible_at <= now_micros()) {
        out["data"].push_back(render(alerts[it->second], true));
        out["meta"]["total"] = 1;
      }
    }
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res);
  }

  // ---- v2 (synthetic: no public sample of a v2 response exists; every answer says "synthetic": true) ----

  std::string subject_of(const AlertRec& a) const {
    return a.huge ? std::string(static_cast<std::size_t>(opt.huge_subject_bytes), 'S') : kSubjects[a.subject];
  }
  static std::string rcpt_of(const AlertRec& a) {
    return std::string("user") + static_cast<char>('a' + a.subject) + "@" + kDomains[a.domain];
  }
  // The same md5 and sha256 as v1's render (alert.malware_md5, alert.sha256 and the malware's md5sum,
  // sha256).
  static std::string md5_of(const AlertRec& a) { return hex(sha256(a.id)).substr(0, 32); }
  static std::string sha256_of(const AlertRec& a) { return hex(sha256(a.msg_id)); }

  // One v2 search item: flat, no etp_message_id, no headers, no modification time.
  static ojson v2_item(const AlertRec& a) {
    return {{"id", a.id},
            {"alert_date", format_rfc3339_s(a.created)},
            {"accepted_time", format_rfc3339_s(a.created - 2 * kMicrosPerSecond)},
            {"email_status", a.status},
            {"sha256", sha256_of(a)},
            {"md5", md5_of(a)},
            {"domain", kDomains[a.domain]},
            {"report_id", "rpt-" + hex(sha256("report:" + a.id)).substr(0, 24)},
            {"malware", ojson::array({{{"name", "Phish.LIVE.DTI.URL"}, {"stype", "known-malware"}}})},
            {"traffic_type", a.traffic}};
  }

  // One v2 details record: keys hyphenated.
  ojson v2_record(const AlertRec& a) const {
    return {
        {"id", a.id},
        {"alert-date", format_rfc3339_s(a.created)},
        {"etp-message-id", a.msg_id},
        {"email-status", a.status},
        {"traffic-type", a.traffic},
        {"domain", kDomains[a.domain]},
        {"severity", a.subject % 2 ? "majr" : "crit"},
        {"malware", ojson::array({{{"name", "Phish.LIVE.DTI.URL"},
                                   {"stype", "known-malware"},
                                   {"md5", md5_of(a)},
                                   {"sha256", sha256_of(a)},
                                   {"downloaded-at", format_rfc3339_s(a.created)}}})},
        {"headers", {{"from", "Sender <news@example.com>"}, {"to", rcpt_of(a)}, {"subject", subject_of(a)}}}};
  }

  // An optional array of strings (absent or empty: no filter). False if present but not that.
  static bool string_set(const ojson& body, const char* key, std::set<std::string>& out) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return true;
    if (!it->is_array()) return false;
    for (const auto& v : *it) {
      if (!v.is_string()) return false;
      out.insert(v.get<std::string>());
    }
    return true;
  }

  // POST /api/v2/public/alerts/search. Every visible alert once (its current state), sorted by (alert_date
  // second, id), date_range closed on both ends (whole seconds: both ends are floored to the second, like
  // alert_date), paged by sort.search_after = the previous page's meta.search_after, [<alert_date epoch ms>,
  // "<id>"]: the items strictly after it in the order asked for (sort.order asc, the default, or desc).
  // Without date_range: the last 90 days to now. Filters: traffic_type (inbound by default), domain[],
  // email_status[] (absent or empty: no filter); the other documented filters (domain_group[], verdict[],
  // md5[], ...) are ignored. size 1..200 (20 by default; above 200: 400 ETP-1413; 0 or less: no items, only
  // meta.total). meta.total counts every hit of the filters and the range, search_after aside.
  void v2_search(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/alerts", req, res)) return;
    auto bad = [&](const std::string& why, const char* code = "ETP-1400") {
      error_body(res, 400, "Bad Request", why, code);
      count(res);
    };
    ojson body = req.body.empty() ? ojson::object() : ojson::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return bad("request body is not a JSON object");
    int size = 20;
    if (auto it = body.find("size"); it != body.end()) {
      if (!it->is_number_integer()) return bad("invalid size");
      auto n = it->get<std::int64_t>();
      if (n > 200) return bad("response size exceeded", "ETP-1413");
      size = static_cast<int>(std::max<std::int64_t>(n, 0));
    }
    std::string traffic = "inbound";
    if (auto it = body.find("traffic_type"); it != body.end()) {
      if (!it->is_string()) return bad("invalid traffic_type");
      traffic = it->get<std::string>();
    }
    if (traffic != "inbound" && traffic != "outbound") return bad("invalid traffic_type");
    Micros now = now_micros();
    Micros from = now - 90 * kMicrosPerDay, to = now;
    if (auto it = body.find("date_range"); it != body.end()) {
      if (!it->is_object()) return bad("invalid date_range");
      for (auto [key, out] : {std::pair<const char*, Micros*>{"from", &from}, {"to", &to}}) {
        auto f = it->find(key);
        if (f == it->end()) continue;
        auto t = f->is_string() ? parse_rfc3339(f->get<std::string>()) : std::nullopt;
        if (!t) return bad(std::string("invalid date_range.") + key);
        *out = *t;
      }
    }
    from = floor_second(from);
    to = floor_second(to);
    std::set<std::string> domains, statuses;
    if (!string_set(body, "domain", domains)) return bad("invalid domain");
    if (!string_set(body, "email_status", statuses)) return bad("invalid email_status");
    bool desc = false;
    std::optional<V2Key> after;
    if (auto it = body.find("sort"); it != body.end()) {
      if (!it->is_object()) return bad("invalid sort");
      std::string order = "asc";
      if (auto o = it->find("order"); o != it->end()) {
        if (!o->is_string()) return bad("invalid sort.order");
        order = o->get<std::string>();
      }
      if (order != "asc" && order != "desc") return bad("invalid sort.order");
      desc = order == "desc";
      if (auto sa = it->find("search_after"); sa != it->end() && !sa->is_null()) {
        if (!sa->is_array() || sa->size() != 2 || !(*sa)[0].is_number_integer() || !(*sa)[1].is_string())
          return bad("invalid sort.search_after");
        auto ms = (*sa)[0].get<std::int64_t>();
        if (ms < 0 || ms > std::numeric_limits<Micros>::max() / 1000) return bad("invalid sort.search_after");
        after = V2Key{ms * 1000, (*sa)[1].get<std::string>(), 0};
      }
    }

    ojson data = ojson::array();
    std::int64_t total = 0;
    ojson next_after;  // the last item's sort value
    {
      std::shared_lock lock(data_mu);
      auto found = v2_index.find(traffic);
      if (found != v2_index.end() && from <= to) {
        const auto& v = found->second;
        auto lo = std::lower_bound(v.begin(), v.end(), V2Key{from, "", 0});
        auto hi = std::upper_bound(lo, v.end(), to, [](Micros t, const V2Key& k) { return t < k.second; });
        auto keep = [&](const V2Key& k) {
          const AlertRec& a = alerts[k.idx];
          return a.visible_at <= now && (domains.empty() || domains.count(kDomains[a.domain]) > 0) &&
                 (statuses.empty() || statuses.count(a.status) > 0);
        };
        // One pass over the range: total counts every hit, the page takes the first `size` hits past
        // search_after in the order asked for.
        auto take = [&](const V2Key& k) {
          if (!keep(k)) return;
          ++total;
          if (static_cast<int>(data.size()) >= size) return;
          if (after && (desc ? !(k < *after) : !(*after < k))) return;
          data.push_back(v2_item(alerts[k.idx]));
          next_after = ojson::array({k.second / 1000, k.id});
        };
        if (desc) {
          for (auto it = hi; it != lo;) take(*--it);
        } else {
          for (auto it = lo; it != hi; ++it) take(*it);
        }
      }
    }
    bool poisoned = false;
    {
      std::lock_guard lock(stats_mu);
      for (const auto& a : data) poisoned = poisoned || faults.poison.count(a["id"].get<std::string>()) > 0;
    }
    if (poisoned) {
      std::string cut = ojson{{"data", data}}.dump();
      res.status = 200;
      res.set_content(cut.substr(0, cut.size() / 2), "application/json");
      return count(res);
    }
    ojson meta = {{"total", total}, {"size", data.size()}};
    if (!data.empty()) meta["search_after"] = next_after;
    meta["synthetic"] = true;
    ojson out = {{"data", data}, {"meta", meta}};
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res);
  }

  // GET /api/v2/public/alerts/{id}: {"data": record, "meta": {"synthetic": true}}, or (fault
  // v2_details_unwrapped) the record itself; 404 with the error envelope for an unknown or not yet visible
  // id.
  void v2_details(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/alerts", req, res)) return;
    std::string id = req.matches[1];
    bool unwrapped = false;
    {
      std::lock_guard lock(stats_mu);
      unwrapped = v2_details_unwrapped;
    }
    std::optional<ojson> record;
    {
      std::shared_lock lock(data_mu);
      auto it = by_id.find(id);
      if (it != by_id.end() && alerts[it->second].visible_at <= now_micros())
        record = v2_record(alerts[it->second]);
    }
    if (!record) {
      error_body(res, 404, "Not Found", "alert not found", "ETP-1404");
      return count(res);
    }
    ojson out =
        unwrapped ? std::move(*record) : ojson{{"data", std::move(*record)}, {"meta", {{"synthetic", true}}}};
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res);
  }

  void count(const httplib::Response& res, const std::string& route = "/alerts") {
    std::lock_guard lock(stats_mu);
    ++routes[route].by_status[res.status];
  }

  // One message's trace record in the documented shape ({id, type, attributes{...}}, as in the public samples
  // other integrators test with); the values are synthetic.
  static ojson trace_record(const std::string& msg_id, const std::string& status, Micros created, Micros lmo,
                            std::uint32_t domain, std::uint32_t subject, std::uint64_t legacy, bool alerted) {
    std::string rcpt = std::string("user") + static_cast<char>('a' + subject) + "@" + kDomains[domain];
    bool bad = status == "quarantined" || status == "dropped" || status == "rejected";
    return {{"id", msg_id},
            {"type", "trace"},
            {"attributes",
             {{"verdicts",
               {{"AS", bad ? "spam" : ""}, {"AV", ""}, {"AT", alerted ? "fail" : "pass"}, {"PV", "pass"}}},
              {"domain", kDomains[domain]},
              {"subject", kSubjects[subject]},
              {"acceptedDateTime", format_vendor(created)},
              {"lastModifiedDateTime", format_vendor(lmo)},
              {"originalMessageID", "<" + msg_id + "@mail.example>"},
              {"senderSMTP", "bounce@sender" + std::to_string(legacy % 17) + ".example"},
              {"senderIP", "198.51.100." + std::to_string(legacy % 250)},
              {"status", status},
              {"recipientSMTP", ojson::array({rcpt})},
              {"downStreamMsgID", "250 2.0.0 OK " + std::to_string(legacy)},
              {"urlDomains", alerted ? ojson::array({"malicious.example"}) : ojson::array()}}}};
  }
  static ojson trace_record(const AlertRec& a) {
    return trace_record(a.msg_id, a.status, a.created, a.lmo, a.domain, a.subject, a.legacy, true);
  }
  static ojson trace_record(const MsgRec& m) {
    return trace_record(m.msg_id, m.status, m.created, m.lmo, m.domain, m.subject, m.legacy, false);
  }

  // One trace version: (lastModifiedDateTime, message id), and where its record comes from.
  struct TraceHit {
    Micros lmo;
    const std::string* msg_id;
    const AlertRec* alert;
    const MsgRec* clean;
    bool operator<(const TraceHit& o) const { return lmo != o.lmo ? lmo < o.lmo : *msg_id < *o.msg_id; }
  };
  // Every visible message of `traffic` modified at or after `from`, oldest first (the caller holds data_mu).
  std::vector<TraceHit> trace_hits(const std::string& traffic, Micros from, Micros now) const {
    std::vector<TraceHit> hits;
    for (const auto& [msg, idx] : by_msg) {
      const AlertRec& a = alerts[idx];
      if (a.traffic == traffic && a.lmo >= from && a.visible_at <= now)
        hits.push_back({a.lmo, &a.msg_id, &a, nullptr});
    }
    auto it = std::lower_bound(clean.begin(), clean.end(), from,
                               [](const MsgRec& m, Micros t) { return m.lmo < t; });
    for (; it != clean.end() && it->lmo <= now; ++it) {
      if (it->traffic == traffic) hits.push_back({it->lmo, &it->msg_id, nullptr, &*it});
    }
    std::sort(hits.begin(), hits.end());
    return hits;
  }

  // POST /api/v1/messages/trace: oldest first by lastModifiedDateTime, the filter inclusive (">="), at most
  // 300, meta.fromLastModifiedOn with a trailing Z.
  void trace_search(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/trace", req, res)) return;
    if (refused_entitlement(trace_forbidden, "/trace", "missing entitlement etp.email_trace.read", res))
      return;
    ojson body = req.body.empty() ? ojson::object() : ojson::parse(req.body, nullptr, false);
    auto bad = [&](const std::string& why, const char* code = "ETP-1400") {
      error_body(res, 400, "Bad Request", why, code);
      count(res, "/trace");
    };
    if (body.is_discarded() || !body.is_object()) return bad("request body is not a JSON object");
    int size = body.contains("size") && body["size"].is_number() ? body["size"].get<int>() : 20;
    if (size > 300) return bad("response size exceeded", "ETP-1413");
    std::string traffic = body.value("traffic_type", std::string("inbound"));
    if (traffic != "inbound" && traffic != "outbound") return bad("invalid traffic_type");
    Micros now = now_micros();
    Micros from = now - 90 * kMicrosPerDay;
    if (const ojson* f = body.contains("attributes") && body["attributes"].is_object() &&
                                 body["attributes"].contains("lastModifiedDateTime")
                             ? &body["attributes"]["lastModifiedDateTime"]
                             : nullptr) {
      auto t = f->is_object() && f->contains("value") && (*f)["value"].is_string()
                   ? parse_time((*f)["value"].get<std::string>())
                   : std::nullopt;
      if (!t || f->value("filter", std::string(">=")) != ">=")
        return bad("invalid lastModifiedDateTime filter");
      from = std::max(*t, from);
    }
    ojson data = ojson::array();
    std::size_t total = 0;
    {
      std::shared_lock lock(data_mu);
      auto hits = trace_hits(traffic, from, now);
      total = hits.size();
      for (std::size_t i = 0; i < hits.size() && static_cast<int>(i) < size; ++i)
        data.push_back(hits[i].alert ? trace_record(*hits[i].alert) : trace_record(*hits[i].clean));
    }
    ojson meta = {{"total", total}, {"size", data.size()}, {"copyright", "Copyright 2026 etp-sim"}};
    if (!data.empty()) {
      meta["fromLastModifiedOn"] = {
          {"start", data.front()["attributes"]["lastModifiedDateTime"].get<std::string>() + "Z"},
          {"end", data.back()["attributes"]["lastModifiedDateTime"].get<std::string>() + "Z"}};
    }
    ojson out = {{"data", data}, {"meta", meta}};
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res, "/trace");
  }

  // A key without the route's entitlement: 403. (The flag is read under stats_mu; count() takes it itself.)
  bool refused_entitlement(const bool& flag, const std::string& route, const char* what,
                           httplib::Response& res) {
    bool refused = false;
    {
      std::lock_guard lock(stats_mu);
      refused = flag;
    }
    if (!refused) return false;
    error_body(res, 403, "Forbidden", what, "ETP-1403");
    count(res, route);
    return true;
  }

  static bool in_quarantine(const AlertRec& a) { return a.status == "quarantined" || a.status == "released"; }
  static Micros quarantined_at(const AlertRec& a) { return a.created / kMicrosPerSecond * kMicrosPerSecond; }

  // One quarantined message, with the documented field names (no public sample: synthetic). A released
  // message keeps its quarantine time and gains a release record.
  ojson quarantine_record(const AlertRec& a) const {
    std::string rcpt = std::string("user") + static_cast<char>('a' + a.subject) + "@" + kDomains[a.domain];
    ojson rel = ojson::array();
    if (a.status == "released")
      rel.push_back(
          {{"email_id", a.legacy}, {"is_released", true}, {"key", "rel-" + std::to_string(a.legacy)}});
    std::string sender_domain = "sender" + std::to_string(a.legacy % 17) + ".example";
    return {{"message_id", a.msg_id},
            {"from", "news@" + sender_domain},
            {"to", rcpt},
            {"cc", ""},
            {"recipients", ojson::array({rcpt})},
            {"subject", kSubjects[a.subject]},
            {"domain", kDomains[a.domain]},
            {"sender_domain", sender_domain},
            {"sender_ip", "198.51.100." + std::to_string(a.legacy % 250)},
            {"country_code", "US"},
            {"timestamp_quarantine", format_vendor(quarantined_at(a)).substr(0, 19)},
            {"timestamp_sent", format_vendor(a.created - 2 * kMicrosPerSecond).substr(0, 19)},
            {"verdict_as", "spam"},
            {"verdict_av", "clean"},
            {"verdict_ex", "malicious"},
            {"verdict_pv", ""},
            {"attachments", ojson::array({"invoice.pdf"})},
            {"released", rel}};
  }

  // POST /api/v1/quarantine: newest first, from_date and to_date inclusive (whole seconds), at most 200.
  void quarantine(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/quarantine", req, res)) return;
    if (refused_entitlement(quarantine_forbidden, "/quarantine", "missing quarantine entitlement", res))
      return;
    ojson body = req.body.empty() ? ojson::object() : ojson::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      error_body(res, 400, "Bad Request", "request body is not a JSON object", "ETP-1400");
      return count(res, "/quarantine");
    }
    int size = body.contains("size") && body["size"].is_number() ? body["size"].get<int>() : 20;
    if (size > 200) {
      error_body(res, 400, "Bad Request", "response size exceeded", "ETP-1413");
      return count(res, "/quarantine");
    }
    Micros now = now_micros();
    Micros from = now - 90 * kMicrosPerDay, to = now;
    const ojson* date = nullptr;
    if (body.contains("attributes") && body["attributes"].is_object() && body["attributes"].contains("date"))
      date = &body["attributes"]["date"];
    for (auto [key, out] : {std::pair<const char*, Micros*>{"from_date", &from}, {"to_date", &to}}) {
      if (!date || !date->is_object() || !date->contains(key)) continue;
      auto t = (*date)[key].is_string() ? parse_time((*date)[key].get<std::string>()) : std::nullopt;
      if (!t) {
        error_body(res, 400, "Bad Request", std::string("invalid ") + key, "ETP-1400");
        return count(res, "/quarantine");
      }
      *out = *t;
    }
    std::vector<std::pair<Micros, std::uint32_t>> hits;
    {
      std::shared_lock lock(data_mu);
      for (const auto& [msg, idx] : by_msg) {
        const AlertRec& a = alerts[idx];
        Micros t = quarantined_at(a);
        if (in_quarantine(a) && a.visible_at <= now && t >= from && t <= to) hits.emplace_back(t, idx);
      }
      std::sort(hits.begin(), hits.end(), [&](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : alerts[x.second].msg_id < alerts[y.second].msg_id;
      });
      ojson data = ojson::array();
      for (std::size_t i = 0; i < hits.size() && static_cast<int>(i) < size; ++i)
        data.push_back(quarantine_record(alerts[hits[i].second]));
      ojson out = {{"data", data}, {"meta", {{"total", hits.size()}}}};
      res.status = 200;
      res.set_content(out.dump(), "application/json");
    }
    count(res, "/quarantine");
  }

  void message_trace(const httplib::Request& req, httplib::Response& res) {
    if (!admit("/trace", req, res)) return;
    if (refused_entitlement(trace_forbidden, "/trace", "missing entitlement etp.email_trace.read", res))
      return;
    std::string id = req.matches[1];
    std::string traffic = req.has_param("traffic_type") ? req.get_param_value("traffic_type") : "inbound";
    std::shared_lock lock(data_mu);
    auto it = by_msg.find(id);
    if (it == by_msg.end() || alerts[it->second].traffic != traffic ||
        alerts[it->second].visible_at > now_micros()) {
      error_body(res, 404, "Not Found", "no message with this id", "ETP-1404");
      return count(res, "/trace");
    }
    ojson out = {{"data", ojson::array({trace_record(alerts[it->second])})}, {"meta", {{"total", 1}}}};
    res.status = 200;
    res.set_content(out.dump(), "application/json");
    count(res, "/trace");
  }

  void token(const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(stats_mu);
      ++token_requests;
    }
    std::string auth = req.get_header_value("Authorization");
    std::string user, pass;
    if (auth.rfind("Basic ", 0) == 0) {
      auto decoded = base64_decode(auth.substr(6));
      if (decoded) {
        auto colon = decoded->find(':');
        user = decoded->substr(0, colon);
        if (colon != std::string::npos) pass = decoded->substr(colon + 1);
      }
    }
    auto reply = [&](int status, const json& j) {
      res.status = status;
      res.set_content(j.dump(), "application/json");
    };
    if (req.get_param_value("grant_type") != "client_credentials") {
      return reply(400, {{"error", "unsupported_grant_type"}});
    }
    if (user == opt.no_api_client_id) return reply(400, {{"error", "unauthorized_client"}});
    if (user != opt.client_id || pass != opt.client_secret) return reply(401, {{"error", "invalid_client"}});
    std::string scope = req.get_param_value("scope");
    if (scope.find("etp.alrt.ro") == std::string::npos) return reply(400, {{"error", "invalid_scope"}});
    std::string token;
    {
      std::lock_guard lock(stats_mu);
      token = "simtok-" + hexid(fault_rng, 32);
      tokens[token] = now_micros() + static_cast<Micros>(token_ttl_s) * kMicrosPerSecond;
    }
    reply(200,
          {{"access_token", token}, {"expires_in", token_ttl_s}, {"token_type", "Bearer"}, {"scope", scope}});
  }

  void routes_setup(EtpSim* self) {
    server.set_tcp_nodelay(true);
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server.Post("/api/v1/alerts", [this](const httplib::Request& q, httplib::Response& r) { summary(q, r); });
    server.Get(R"(/api/v1/alerts/([^/]+))",
               [this](const httplib::Request& q, httplib::Response& r) { details(q, r); });
    server.Post("/api/v2/public/alerts/search",
                [this](const httplib::Request& q, httplib::Response& r) { v2_search(q, r); });
    server.Get(R"(/api/v2/public/alerts/([^/]+))",
               [this](const httplib::Request& q, httplib::Response& r) { v2_details(q, r); });
    server.Post("/api/v1/quarantine",
                [this](const httplib::Request& q, httplib::Response& r) { quarantine(q, r); });
    server.Post("/api/v1/messages/trace",
                [this](const httplib::Request& q, httplib::Response& r) { trace_search(q, r); });
    server.Get(R"(/api/v1/messages/([^/]+))",
               [this](const httplib::Request& q, httplib::Response& r) { message_trace(q, r); });
    server.Post("/auth/realms/IAM/protocol/openid-connect/token",
                [this](const httplib::Request& q, httplib::Response& r) { token(q, r); });
    auto json_reply = [](httplib::Response& r, const json& j) {
      r.set_content(j.dump(), "application/json");
    };
    server.Get("/sim/stats",
               [this, json_reply](const httplib::Request&, httplib::Response& r) { json_reply(r, stats()); });
    server.Get("/sim/truth", [this, json_reply](const httplib::Request& q, httplib::Response& r) {
      std::string stream = q.get_param_value("stream");
      json_reply(r, stream == "trace"        ? message_truth()
                    : stream == "trace-all"  ? trace_all_truth()
                    : stream == "quarantine" ? quarantine_truth()
                    : stream == "v2"         ? v2_truth()
                                             : truth());
    });
    auto with_body = [json_reply](auto fn) {
      return [fn, json_reply](const httplib::Request& q, httplib::Response& r) {
        json body = q.body.empty() ? json::object() : json::parse(q.body, nullptr, false);
        if (body.is_discarded()) {
          r.status = 400;
          return json_reply(r, {{"error", "body is not JSON"}});
        }
        json_reply(r, fn(body));
      };
    };
    server.Post("/sim/faults", with_body([self](const json& b) {
                  self->set_faults(b);
                  return json{{"ok", true}};
                }));
    server.Post("/sim/alerts", with_body([self](const json& b) { return self->add_alerts(b); }));
    server.Post("/sim/modify", with_body([self](const json& b) { return self->modify_alert(b); }));
  }

  json stats() const {
    std::lock_guard lock(stats_mu);
    json out = {
        {"token_requests", token_requests}, {"rate_limit_per_min", rate_limit}, {"routes", json::object()}};
    for (const auto& [name, r] : routes) {
      json by_status = json::object();
      for (auto [code, n] : r.by_status) by_status[std::to_string(code)] = n;
      out["routes"][name] = {{"requests", r.requests},
                             {"max_in_60s", r.max_in_60s},
                             {"rate_limited", r.rate_limited},
                             {"by_status", by_status}};
    }
    return out;
  }

  // Every alerted message's trace as the stand-in would answer it: [{etp_message_id, traffic_type, status}].
  json message_truth() const {
    std::shared_lock lock(data_mu);
    json out = json::array();
    Micros now = now_micros();
    for (const auto& [msg, idx] : by_msg) {
      const AlertRec& a = alerts[idx];
      if (a.visible_at > now) continue;
      out.push_back({{"etp_message_id", msg}, {"traffic_type", a.traffic}, {"status", a.status}});
    }
    return out;
  }

  json trace_all_truth() const {
    std::shared_lock lock(data_mu);
    json out = json::array();
    Micros now = now_micros();
    for (const char* traffic : {"inbound", "outbound"}) {
      for (const auto& h : trace_hits(traffic, 0, now)) {
        out.push_back({{"etp_message_id", *h.msg_id},
                       {"traffic_type", traffic},
                       {"status", h.alert ? h.alert->status : h.clean->status},
                       {"last_modified", format_vendor(h.lmo)}});
      }
    }
    return out;
  }

  // Every quarantined message as the stand-in would answer it: [{message_id, timestamp_quarantine,
  // released}].
  json quarantine_truth() const {
    std::shared_lock lock(data_mu);
    json out = json::array();
    Micros now = now_micros();
    for (const auto& [msg, idx] : by_msg) {
      const AlertRec& a = alerts[idx];
      if (!in_quarantine(a) || a.visible_at > now) continue;
      out.push_back({{"message_id", msg},
                     {"timestamp_quarantine", format_vendor(quarantined_at(a)).substr(0, 19)},
                     {"released", a.status == "released"}});
    }
    return out;
  }

  json v2_truth() const {
    std::shared_lock lock(data_mu);
    json out = json::array();
    Micros now = now_micros();
    for (const auto& [traffic, v] : v2_index) {
      for (const auto& k : v) {
        const AlertRec& a = alerts[k.idx];
        if (a.visible_at > now) continue;
        out.push_back({{"id", a.id},
                       {"etp_message_id", a.msg_id},
                       {"alert_date", format_rfc3339_s(a.created)},
                       {"traffic_type", a.traffic},
                       {"domain", kDomains[a.domain]}});
      }
    }
    return out;
  }

  json truth() const {
    std::shared_lock lock(data_mu);
    json out = json::array();
    Micros now = now_micros();
    for (const auto& a : alerts) {
      if (a.visible_at > now) continue;
      out.push_back({{"id", a.id},
                     {"etp_message_id", a.msg_id},
                     {"last_modified_on", format_vendor(a.lmo)},
                     {"traffic_type", a.traffic}});
    }
    return out;
  }
};

EtpSim::EtpSim(EtpSimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->routes_setup(this);
  impl_->port = impl_->serving.start(impl_->server, impl_->opt.host, impl_->opt.port, "etp-sim");
}

EtpSim::~EtpSim() {
  stop();
}

void EtpSim::stop() {
  impl_->serving.stop();
}

int EtpSim::port() const {
  return impl_->port;
}
std::string EtpSim::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}
std::string EtpSim::token_url() const {
  return base_url() + "/auth/realms/IAM/protocol/openid-connect/token";
}
nlohmann::json EtpSim::stats() const {
  return impl_->stats();
}
nlohmann::json EtpSim::truth() const {
  return impl_->truth();
}
nlohmann::json EtpSim::v2_truth() const {
  return impl_->v2_truth();
}
nlohmann::json EtpSim::message_truth() const {
  return impl_->message_truth();
}
nlohmann::json EtpSim::trace_all_truth() const {
  return impl_->trace_all_truth();
}
nlohmann::json EtpSim::quarantine_truth() const {
  return impl_->quarantine_truth();
}

void EtpSim::set_faults(const nlohmann::json& b) {
  // Checked before anything changes: a refused value leaves every fault as it was.
  std::optional<int> retire;
  if (b.contains("retire_v1")) retire = Impl::checked_retire_status(b["retire_v1"].get<int>());
  std::lock_guard lock(impl_->stats_mu);
  auto& f = impl_->faults;
  f.latency_ms = b.value("latency_ms", f.latency_ms);
  f.jitter_ms = b.value("jitter_ms", f.jitter_ms);
  f.rate_5xx = b.value("rate_5xx", f.rate_5xx);
  f.rate_garbage = b.value("rate_garbage", f.rate_garbage);
  f.rate_drop = b.value("rate_drop", f.rate_drop);
  impl_->rate_limit = b.value("rate_limit_per_min", impl_->rate_limit);
  impl_->token_ttl_s = b.value("token_ttl_s", impl_->token_ttl_s);
  impl_->trace_forbidden = b.value("trace_forbidden", impl_->trace_forbidden);
  impl_->quarantine_forbidden = b.value("quarantine_forbidden", impl_->quarantine_forbidden);
  if (retire) impl_->retire_v1 = *retire;
  impl_->v2_details_unwrapped = b.value("v2_details_unwrapped", impl_->v2_details_unwrapped);
  if (b.contains("script") && b["script"].is_array()) {
    for (const auto& s : b["script"]) f.script.push_back(s.get<std::string>());
  }
  if (b.contains("poison") && b["poison"].is_array()) {
    f.poison.clear();
    for (const auto& s : b["poison"])
      if (s.is_string()) f.poison.insert(s.get<std::string>());
  }
  if (b.value("expire_tokens", false)) {
    for (auto& [tok, exp] : impl_->tokens) exp = 0;
  }
}

nlohmann::json EtpSim::add_alerts(const nlohmann::json& b) {
  std::unique_lock lock(impl_->data_mu);
  int n = b.value("count", 1);
  std::string traffic = b.value("traffic_type", std::string("inbound"));
  int late_s = b.value("late_s", 0);
  Micros now = now_micros() / 1000 * 1000;
  std::optional<Micros> created_second;
  if (b.contains("created")) {
    auto t = b["created"].is_string() ? parse_time(b["created"].get<std::string>()) : std::nullopt;
    if (!t) return {{"error", "invalid created"}};
    created_second = floor_second(*t);
  }
  nlohmann::json ids = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    AlertRec a = impl_->make(now, traffic);
    if (created_second)
      a.created = *created_second + static_cast<Micros>(impl_->rng() % 1000) * 1000;  // one second, any ms
    a.visible_at = now + static_cast<Micros>(late_s) * kMicrosPerSecond;
    ids.push_back({{"id", a.id},
                   {"visible_at", format_iso_ms(a.visible_at)},
                   {"last_modified_on", format_vendor(now)},
                   {"alert_date", format_rfc3339_s(a.created)}});
    impl_->insert(std::move(a));
  }
  return {{"alerts", ids}};
}

nlohmann::json EtpSim::modify_alert(const nlohmann::json& b) {
  std::unique_lock lock(impl_->data_mu);
  std::string id = b.value("id", std::string());
  auto it = impl_->by_id.find(id);
  if (it == impl_->by_id.end()) return {{"error", "unknown id"}};
  AlertRec& a = impl_->alerts[it->second];
  auto& v = impl_->index[a.traffic];
  auto pos = std::lower_bound(v.begin(), v.end(), Key{a.lmo, a.id, 0});
  if (pos != v.end() && pos->id == a.id) v.erase(pos);
  a.lmo = std::max(now_micros() / 1000 * 1000, a.lmo + 1000);
  a.visible_at = a.lmo;
  a.status = b.value("status", std::string("released"));
  a.read = true;
  Key k{a.lmo, a.id, it->second};
  v.insert(std::upper_bound(v.begin(), v.end(), k), k);
  return {{"id", a.id}, {"last_modified_on", format_vendor(a.lmo)}};
}

}  // namespace etp2s::sim
