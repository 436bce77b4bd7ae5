// etp-sim's v2 alert API (synthetic: no public v2 sample exists) and the retired v1, over real HTTP on a
// loopback port: search paged by search_after (ties included), filters, the closed date_range, size limits,
// details (wrapped and unwrapped), the shared /alerts budget, the poison fault, and retire_v1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"
#include "sim/etp/etp_sim.h"

using namespace etp2s;
using etp2s::sim::EtpSim;
using etp2s::sim::EtpSimOptions;
using json = nlohmann::json;

namespace {

EtpSimOptions sim_options(int alerts) {
  EtpSimOptions o;
  o.alerts = alerts;
  o.days = 7;
  o.rate_limit_per_min = 1'000'000;
  o.late_percent = 0;  // nothing becomes visible while a test pages: the truth stays put
  return o;
}

struct Reply {
  int status = 0;
  std::string body;
  json doc;  // discarded if the body is not JSON
};

class Api {
 public:
  explicit Api(const EtpSim& sim) : cli_("127.0.0.1", sim.port()) {
    cli_.set_connection_timeout(5);
    cli_.set_read_timeout(30);
  }
  Reply post(const std::string& path, const json& body) {
    return reply(cli_.Post(path, headers(), body.dump(), "application/json"));
  }
  Reply get(const std::string& path) { return reply(cli_.Get(path, headers())); }
  Reply search(const json& body) { return post("/api/v2/public/alerts/search", body); }

 private:
  static httplib::Headers headers() { return {{"x-fireeye-api-key", "sim-api-key-0123456789"}}; }
  static Reply reply(const httplib::Result& r) {
    if (!r) throw std::runtime_error("no HTTP answer");
    return {r->status, r->body, json::parse(r->body, nullptr, false)};
  }
  httplib::Client cli_;
};

// v2_truth() of one traffic type, in its order.
std::vector<json> v2_truth(const EtpSim& sim, const std::string& traffic) {
  std::vector<json> out;
  for (const auto& t : sim.v2_truth())
    if (t["traffic_type"] == traffic) out.push_back(t);
  return out;
}

std::set<std::string> ids_of(const std::vector<json>& items) {
  std::set<std::string> out;
  for (const auto& i : items) out.insert(i["id"].get<std::string>());
  return out;
}

// Epoch milliseconds of a v2 alert_date.
std::int64_t ms_of(const json& item) {
  auto t = parse_time(item["alert_date"].get<std::string>());
  if (!t) throw std::runtime_error("bad alert_date " + item["alert_date"].dump());
  return *t / 1000;
}

std::string rfc3339(Micros t) {
  return format_iso_ms(t).substr(0, 19) + "Z";
}

struct Paged {
  std::vector<json> items;
  std::vector<std::int64_t> totals;  // meta.total of every page
  int pages = 0;
};

// Pages a search through with search_after until a page comes back empty, checking every page's meta.
Paged page_all(Api& api, json body, int size) {
  Paged out;
  body["size"] = size;
  for (int guard = 0; guard < 100'000; ++guard) {
    Reply r = api.search(body);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200 || r.doc.is_discarded()) break;
    const json& data = r.doc["data"];
    const json& meta = r.doc["meta"];
    EXPECT_EQ(meta["synthetic"], true);
    EXPECT_EQ(meta["size"].get<std::size_t>(), data.size());
    EXPECT_LE(static_cast<int>(data.size()), size);
    out.totals.push_back(meta["total"].get<std::int64_t>());
    ++out.pages;
    if (data.empty()) {
      EXPECT_FALSE(meta.contains("search_after")) << "search_after on an empty page";
      break;
    }
    for (const auto& item : data) out.items.push_back(item);
    // The cursor is the last item's sort value: [alert_date epoch ms, id].
    json expected_after = json::array({ms_of(data.back()), data.back()["id"]});
    EXPECT_EQ(meta["search_after"], expected_after);
    if (body.contains("sort") && body["sort"].contains("search_after") &&
        body["sort"]["search_after"] == meta["search_after"]) {
      ADD_FAILURE() << "the cursor did not move: " << meta["search_after"].dump();
      break;
    }
    body["sort"]["search_after"] = meta["search_after"];
  }
  return out;
}

void expect_strictly_ascending(const std::vector<json>& items) {
  for (std::size_t i = 1; i < items.size(); ++i) {
    auto a = std::make_pair(ms_of(items[i - 1]), items[i - 1]["id"].get<std::string>());
    auto b = std::make_pair(ms_of(items[i]), items[i]["id"].get<std::string>());
    ASSERT_LT(a, b) << "out of order at " << i;
  }
}

}  // namespace

// (a) size 7 pages through the whole range: every visible alert of the traffic type once, in order, the same
// set as v2_truth(); descending order gives the same items reversed.
TEST(EtpSimV2, SearchAfterPagesEveryVisibleAlertOnceInOrder) {
  EtpSim sim(sim_options(1500));
  // Modified alerts stay one item each (v2 shows the current state, not one item per modification).
  auto some = v2_truth(sim, "inbound");
  ASSERT_GT(some.size(), 10u);
  sim.modify_alert({{"id", some[3]["id"]}, {"status", "released"}});
  Api api(sim);
  Micros now = now_micros();
  for (std::string traffic : {"inbound", "outbound"}) {
    SCOPED_TRACE(traffic);
    auto truth = v2_truth(sim, traffic);
    ASSERT_GT(truth.size(), 100u);
    json body = {
        {"traffic_type", traffic},
        {"date_range", {{"from", rfc3339(now - 8 * kMicrosPerDay)}, {"to", rfc3339(now + 60'000'000)}}}};
    Paged p = page_all(api, body, 7);
    EXPECT_EQ(p.items.size(), truth.size());
    EXPECT_EQ(ids_of(p.items).size(), p.items.size()) << "an alert came twice";
    EXPECT_EQ(ids_of(p.items), ids_of(truth));
    expect_strictly_ascending(p.items);
    EXPECT_EQ(p.pages, static_cast<int>((truth.size() + 6) / 7) + 1);  // the last page is empty
    for (auto t : p.totals) EXPECT_EQ(t, static_cast<std::int64_t>(truth.size()));
    for (const auto& item : p.items) {
      ASSERT_EQ(item["traffic_type"], traffic);
      ASSERT_FALSE(item.contains("etp_message_id"));
      ASSERT_FALSE(item.contains("headers"));
    }
    // The truth's alert_date of every id matches the item's.
    std::map<std::string, std::string> date_of;
    for (const auto& t : truth) date_of[t["id"]] = t["alert_date"];
    for (const auto& item : p.items) ASSERT_EQ(item["alert_date"], date_of[item["id"]]);

    json desc = body;
    desc["sort"] = {{"order", "desc"}};
    Paged d = page_all(api, desc, 50);
    ASSERT_EQ(d.items.size(), p.items.size());
    for (std::size_t i = 0; i < d.items.size(); ++i)
      ASSERT_EQ(d.items[i]["id"], p.items[p.items.size() - 1 - i]["id"]) << i;
  }
}

// (b) 450 alerts created within one second: size 200 + search_after returns every one of them once.
TEST(EtpSimV2, SearchAfterPagesThroughA450AlertTieInOneSecond) {
  EtpSim sim(sim_options(200));
  Micros second = (now_micros() - 3600 * kMicrosPerSecond) / kMicrosPerSecond * kMicrosPerSecond;
  std::string date = rfc3339(second);
  json added = sim.add_alerts({{"count", 450}, {"traffic_type", "inbound"}, {"created", date}});
  ASSERT_EQ(added["alerts"].size(), 450u) << added.dump();
  std::set<std::string> tie;
  for (const auto& a : added["alerts"]) {
    ASSERT_EQ(a["alert_date"], date);
    tie.insert(a["id"].get<std::string>());
  }
  std::set<std::string> expected;  // the 450, and any generated alert of the same second
  for (const auto& t : v2_truth(sim, "inbound"))
    if (t["alert_date"] == date) expected.insert(t["id"].get<std::string>());
  ASSERT_GE(expected.size(), 450u);

  Api api(sim);
  // from == to: the range is that one second, closed on both ends.
  Paged p = page_all(api, {{"traffic_type", "inbound"}, {"date_range", {{"from", date}, {"to", date}}}}, 200);
  EXPECT_EQ(p.items.size(), expected.size());
  EXPECT_EQ(ids_of(p.items), expected);
  for (const auto& id : tie) EXPECT_EQ(ids_of(p.items).count(id), 1u);
  expect_strictly_ascending(p.items);
  EXPECT_EQ(p.pages, static_cast<int>((expected.size() + 199) / 200) + 1);
  for (auto t : p.totals) EXPECT_EQ(t, static_cast<std::int64_t>(expected.size()));
  for (const auto& item : p.items) ASSERT_EQ(item["alert_date"], date);
}

// The tie_burst option ties v2's alert_date as well: all of them in one second.
TEST(EtpSimV2, TieBurstAlertsShareOneCreationSecond) {
  EtpSimOptions o = sim_options(100);
  o.tie_burst = 300;
  EtpSim sim(o);
  std::map<std::string, int> per_second;
  for (const auto& t : v2_truth(sim, "inbound")) ++per_second[t["alert_date"].get<std::string>()];
  int most = 0;
  for (const auto& [d, n] : per_second) most = std::max(most, n);
  EXPECT_GE(most, 300);
}

// (c) the domain filter (and email_status), meta.total, and the closed date_range.
TEST(EtpSimV2, DomainFilterAndInclusiveDateRange) {
  EtpSim sim(sim_options(1200));
  Api api(sim);
  auto truth = v2_truth(sim, "inbound");
  std::vector<json> fabrikam;
  for (const auto& t : truth)
    if (t["domain"] == "fabrikam.test") fabrikam.push_back(t);
  ASSERT_GT(fabrikam.size(), 20u);

  Paged p = page_all(api, {{"traffic_type", "inbound"}, {"domain", {"fabrikam.test"}}}, 200);
  for (const auto& item : p.items) ASSERT_EQ(item["domain"], "fabrikam.test");
  EXPECT_EQ(ids_of(p.items), ids_of(fabrikam));
  ASSERT_FALSE(p.totals.empty());
  EXPECT_EQ(p.totals.front(), static_cast<std::int64_t>(fabrikam.size()));

  Reply two =
      api.search({{"traffic_type", "inbound"}, {"domain", {"fabrikam.test", "contoso.test"}}, {"size", 0}});
  std::size_t both = 0;
  for (const auto& t : truth) both += t["domain"] == "fabrikam.test" || t["domain"] == "contoso.test";
  EXPECT_EQ(two.doc["meta"]["total"], both);

  Reply q = api.search({{"traffic_type", "inbound"}, {"email_status", {"quarantined"}}, {"size", 200}});
  ASSERT_EQ(q.status, 200);
  ASSERT_FALSE(q.doc["data"].empty());
  for (const auto& item : q.doc["data"]) EXPECT_EQ(item["email_status"], "quarantined");

  // A range from one alert's second to another's: both ends included, nothing outside it.
  const json& first = truth[truth.size() / 4];
  const json& last = truth[truth.size() / 2];
  std::string from = first["alert_date"], to = last["alert_date"];
  std::set<std::string> inside;
  for (const auto& t : truth)
    if (t["alert_date"].get<std::string>() >= from && t["alert_date"].get<std::string>() <= to)
      inside.insert(t["id"].get<std::string>());
  Paged r = page_all(api, {{"traffic_type", "inbound"}, {"date_range", {{"from", from}, {"to", to}}}}, 200);
  EXPECT_EQ(ids_of(r.items), inside);
  EXPECT_EQ(ids_of(r.items).count(first["id"]), 1u) << "the alert at `from` is left out";
  EXPECT_EQ(ids_of(r.items).count(last["id"]), 1u) << "the alert at `to` is left out";
  EXPECT_EQ(r.totals.front(), static_cast<std::int64_t>(inside.size()));

  // The same range with a fractional part and +00:00: whole-second comparison, the same hits.
  std::string from_frac = from.substr(0, 19) + ".999+00:00", to_frac = to.substr(0, 19) + ".5+00:00";
  Reply f = api.search(
      {{"traffic_type", "inbound"}, {"date_range", {{"from", from_frac}, {"to", to_frac}}}, {"size", 0}});
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.doc["meta"]["total"], inside.size());

  // `to` one second before the last alert's second leaves it out.
  Micros to_t = *parse_time(to) - kMicrosPerSecond;
  Paged shorter = page_all(
      api, {{"traffic_type", "inbound"}, {"date_range", {{"from", from}, {"to", rfc3339(to_t)}}}}, 200);
  EXPECT_EQ(ids_of(shorter.items).count(last["id"]), 0u);
  EXPECT_EQ(ids_of(shorter.items).count(first["id"]), 1u);

  // Without date_range: the last 90 days (all of the stand-in's 7).
  Reply all = api.search({{"traffic_type", "inbound"}, {"size", 0}});
  EXPECT_EQ(all.doc["meta"]["total"], truth.size());

  for (const json& bad :
       {json{{"date_range", {{"from", "yesterday"}}}}, json{{"date_range", {{"to", "2026-11-23"}}}},
        json{{"date_range", {{"from", "2026-11-23T00:00:00"}}}},  // no zone
        json{{"date_range", "2026-11-23T00:00:00Z"}}, json{{"traffic_type", "sideways"}},
        json{{"domain", "contoso.test"}}}) {
    Reply r400 = api.search(bad);
    EXPECT_EQ(r400.status, 400) << bad.dump();
    EXPECT_EQ(r400.doc["errors"][0]["code"], "ETP-1400") << bad.dump();
  }
}

// (d) size limits; a malformed search_after.
TEST(EtpSimV2, SizeLimitsAndMalformedSearchAfter) {
  EtpSim sim(sim_options(300));
  Api api(sim);
  auto truth = v2_truth(sim, "outbound");
  ASSERT_FALSE(truth.empty());

  Reply big = api.search({{"traffic_type", "outbound"}, {"size", 201}});
  EXPECT_EQ(big.status, 400);
  EXPECT_EQ(big.doc["errors"][0]["code"], "ETP-1413");
  EXPECT_EQ(big.doc["errors"][0]["detail"], "response size exceeded");
  EXPECT_EQ(api.search({{"traffic_type", "outbound"}, {"size", 200}}).status, 200);

  for (int size : {0, -5}) {
    Reply zero = api.search({{"traffic_type", "outbound"}, {"size", size}});
    ASSERT_EQ(zero.status, 200) << zero.body;
    EXPECT_TRUE(!zero.doc.contains("data") || zero.doc["data"].empty()) << zero.body;
    EXPECT_EQ(zero.doc["meta"]["total"], truth.size());
    EXPECT_FALSE(zero.doc["meta"].contains("search_after"));
  }

  Reply def = api.search({{"traffic_type", "outbound"}});
  EXPECT_EQ(def.doc["data"].size(), std::min<std::size_t>(20, truth.size()));

  for (const json& sa : {json("abc"), json::array({1}), json::array({"x", "y"}), json::array({1, 2}),
                         json::object({{"t", 1}}), json::array({1.5, "id"})}) {
    Reply r = api.search({{"traffic_type", "outbound"}, {"sort", {{"order", "asc"}, {"search_after", sa}}}});
    EXPECT_EQ(r.status, 400) << sa.dump();
    EXPECT_EQ(r.doc["errors"][0]["code"], "ETP-1400") << sa.dump();
  }
  EXPECT_EQ(api.search({{"sort", {{"order", "sideways"}}}}).status, 400);
  EXPECT_EQ(api.search({{"size", "7"}}).status, 400);
}

// (e) details: etp-message-id equals v1's etp_message_id, wrapped and unwrapped; 404 for unknown and not yet
// visible ids. The search item's md5 and sha256 are v1's.
TEST(EtpSimV2, DetailsCarryTheMessageIdWrappedAndUnwrapped) {
  EtpSim sim(sim_options(200));
  Api api(sim);
  auto truth = v2_truth(sim, "inbound");
  ASSERT_GT(truth.size(), 5u);
  Reply page = api.search({{"traffic_type", "inbound"}, {"size", 5}});
  ASSERT_EQ(page.doc["data"].size(), 5u);
  for (const auto& item : page.doc["data"]) {
    std::string id = item["id"];
    Reply v1 = api.get("/api/v1/alerts/" + id);
    ASSERT_EQ(v1.status, 200);
    ASSERT_EQ(v1.doc["meta"]["total"], 1);
    const json& attrs = v1.doc["data"][0]["attributes"];
    std::string msg = attrs["email"]["etp_message_id"];
    EXPECT_EQ(item["md5"], attrs["alert"]["malware_md5"]);
    EXPECT_EQ(item["sha256"], attrs["alert"]["sha256"]);
    EXPECT_EQ(item["email_status"], attrs["email"]["status"]);

    Reply v2 = api.get("/api/v2/public/alerts/" + id);
    ASSERT_EQ(v2.status, 200) << v2.body;
    ASSERT_TRUE(v2.doc.contains("data")) << v2.body;
    const json& rec = v2.doc["data"];
    EXPECT_EQ(rec["id"], id);
    EXPECT_EQ(rec["etp-message-id"], msg);
    EXPECT_EQ(rec["alert-date"], item["alert_date"]);
    EXPECT_EQ(rec["traffic-type"], "inbound");
    EXPECT_EQ(rec["email-status"], item["email_status"]);
    EXPECT_EQ(rec["malware"][0]["md5"], item["md5"]);
    EXPECT_TRUE(rec["malware"][0].contains("downloaded-at"));
    EXPECT_EQ(rec["headers"]["to"], attrs["email"]["headers"]["to"]);
    EXPECT_EQ(v2.doc["meta"]["synthetic"], true);
  }

  sim.set_faults({{"v2_details_unwrapped", true}});
  std::string id = truth[2]["id"];
  Reply un = api.get("/api/v2/public/alerts/" + id);
  ASSERT_EQ(un.status, 200);
  EXPECT_FALSE(un.doc.contains("data")) << un.body;
  EXPECT_EQ(un.doc["id"], id);
  EXPECT_EQ(un.doc["etp-message-id"], truth[2]["etp_message_id"]);
  Reply v1 = api.get("/api/v1/alerts/" + id);
  EXPECT_EQ(un.doc["etp-message-id"], v1.doc["data"][0]["attributes"]["email"]["etp_message_id"]);
  sim.set_faults({{"v2_details_unwrapped", false}});
  EXPECT_TRUE(api.get("/api/v2/public/alerts/" + id).doc.contains("data"));

  Reply unknown = api.get("/api/v2/public/alerts/3yINFWA-no-such-alert");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.doc["errors"][0]["code"], "ETP-1404");
  EXPECT_EQ(unknown.doc["errors"][0]["detail"], "alert not found");

  // Not visible yet: 404 in details, absent from search and from v2_truth.
  std::string late =
      sim.add_alerts({{"count", 1}, {"traffic_type", "inbound"}, {"late_s", 600}})["alerts"][0]["id"];
  EXPECT_EQ(api.get("/api/v2/public/alerts/" + late).status, 404);
  EXPECT_EQ(ids_of(v2_truth(sim, "inbound")).count(late), 0u);
  Paged p = page_all(api, {{"traffic_type", "inbound"}}, 200);
  EXPECT_EQ(ids_of(p.items).count(late), 0u);
  EXPECT_EQ(p.items.size(), truth.size());
}

// (f) retire_v1: the v1 alert routes answer 404 or 410 (and are counted); v2, the trace and the quarantine
// are unaffected; 0 brings v1 back.
TEST(EtpSimV2, RetiredV1AnswersItsStatusWhileV2AndTraceServe) {
  EtpSim sim(sim_options(200));
  Api api(sim);
  std::string id = v2_truth(sim, "inbound").at(0)["id"];
  // The /alerts route's counters (absent before its first request).
  auto alerts_route = [&] {
    json routes = sim.stats()["routes"];
    return routes.contains("/alerts") ? routes["/alerts"]
                                      : json{{"requests", 0}, {"by_status", json::object()}};
  };
  auto alerts_status = [&](int code) { return alerts_route()["by_status"].value(std::to_string(code), 0); };
  for (int status : {404, 410}) {
    SCOPED_TRACE(status);
    sim.set_faults({{"retire_v1", status}});
    int before = alerts_status(status);
    std::uint64_t requests = alerts_route()["requests"];
    Reply summary = api.post("/api/v1/alerts", {{"size", 10}});
    EXPECT_EQ(summary.status, status);
    EXPECT_EQ(summary.doc["errors"][0]["title"], status == 404 ? "Not Found" : "Gone");
    EXPECT_EQ(summary.doc["errors"][0]["detail"],
              "this API version has been retired; use /api/v2/public/alerts");
    Reply details = api.get("/api/v1/alerts/" + id);
    EXPECT_EQ(details.status, status);
    EXPECT_EQ(details.doc["errors"][0]["status"], std::to_string(status));
    EXPECT_EQ(alerts_status(status), before + 2);
    EXPECT_EQ(alerts_route()["requests"].get<std::uint64_t>(), requests + 2);

    Reply v2 = api.search({{"traffic_type", "inbound"}, {"size", 3}});
    EXPECT_EQ(v2.status, 200);
    EXPECT_EQ(v2.doc["data"].size(), 3u);
    EXPECT_EQ(api.get("/api/v2/public/alerts/" + id).status, 200);
    Reply trace = api.post("/api/v1/messages/trace", {{"size", 5}});
    EXPECT_EQ(trace.status, 200);
    EXPECT_FALSE(trace.doc["data"].empty());
    EXPECT_EQ(api.post("/api/v1/quarantine", {{"size", 5}}).status, 200);
  }
  sim.set_faults({{"retire_v1", 0}});
  Reply summary = api.post("/api/v1/alerts", {{"size", 10}});
  EXPECT_EQ(summary.status, 200);
  EXPECT_EQ(summary.doc["data"].size(), 10u);
  Reply details = api.get("/api/v1/alerts/" + id);
  EXPECT_EQ(details.status, 200);
  EXPECT_EQ(details.doc["meta"]["total"], 1);

  EXPECT_THROW(sim.set_faults({{"retire_v1", 418}}), std::invalid_argument);
  EXPECT_EQ(api.post("/api/v1/alerts", {{"size", 1}}).status, 200) << "a refused value changed the fault";
}

// v2 search and details spend the same /alerts budget as v1.
TEST(EtpSimV2, SharesTheAlertsRouteBudgetWithV1) {
  EtpSimOptions o = sim_options(50);
  o.rate_limit_per_min = 3;
  EtpSim sim(o);
  Api api(sim);
  std::string id = v2_truth(sim, "inbound").at(0)["id"];
  EXPECT_EQ(api.post("/api/v1/alerts", {{"size", 1}}).status, 200);
  EXPECT_EQ(api.search({{"size", 1}}).status, 200);
  EXPECT_EQ(api.get("/api/v2/public/alerts/" + id).status, 200);
  Reply limited = api.search({{"size", 1}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(api.get("/api/v2/public/alerts/" + id).status, 429);
  EXPECT_EQ(sim.stats()["routes"]["/alerts"]["requests"], 5);
}

// A page holding a poisoned alert comes back cut off, every time; a page without it is whole.
TEST(EtpSimV2, PoisonedAlertCutsItsSearchPage) {
  EtpSim sim(sim_options(300));
  Api api(sim);
  auto truth = v2_truth(sim, "inbound");
  ASSERT_GT(truth.size(), 20u);
  sim.set_faults({{"poison", {truth[5]["id"]}}});
  for (int i = 0; i < 2; ++i) {
    Reply cut = api.search({{"traffic_type", "inbound"}, {"size", 10}});
    EXPECT_EQ(cut.status, 200);
    EXPECT_TRUE(cut.doc.is_discarded()) << cut.body;
  }
  Reply before = api.search({{"traffic_type", "inbound"}, {"size", 5}});
  ASSERT_FALSE(before.doc.is_discarded());
  EXPECT_EQ(before.doc["data"].size(), 5u);
  Reply after = api.search({{"traffic_type", "inbound"},
                            {"size", 10},
                            {"sort", {{"search_after", json::array({ms_of(truth[5]), truth[5]["id"]})}}}});
  ASSERT_FALSE(after.doc.is_discarded()) << after.body;
  EXPECT_EQ(after.doc["data"][0]["id"], truth[6]["id"]);
}
