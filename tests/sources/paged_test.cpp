// What the paged sources share (sources/paged.h), against etp-sim: the held-back head poll.
#include "sources/paged.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "sim/etp/etp_sim.h"
#include "tests/support/read_pages.h"

using namespace etp2s;
using etp2s::testing::client_for;
using etp2s::testing::read_all;

// The held-back head poll (sources/paged.h) of the alerts: one request returns the new alert and the one that
// became visible after the head passed it, and the cursor it reports never goes below the head.
TEST(HeldBackHeadPoll, OneRequestCatchesALateAlertAndTheCursorNeverGoesBack) {
  sim::EtpSimOptions o;
  o.alerts = 50;
  o.days = 1;
  o.rate_limit_per_min = 100000;
  o.late_percent = 0;
  sim::EtpSim etp(o);
  Config c;
  SourceContext ctx{c, client_for(etp.base_url(), o.api_key), kLogsIngestionLimits};
  auto source = make_source("alerts-v1", ctx);
  auto late = etp.add_alerts({{"count", 1}, {"traffic_type", "inbound"}, {"late_s", 2}})["alerts"][0];
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  etp.add_alerts({{"count", 1}, {"traffic_type", "inbound"}});
  auto head_read =
      read_all(*source->open({"inbound", format_vendor(now_micros() - kMicrosPerDay), std::nullopt}));
  const std::string head = head_read.cursor;
  ASSERT_GT(*parse_time(head), *parse_time(late["last_modified_on"].get<std::string>()))
      << "the head passed the late alert before it was visible";
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto ids = [](const etp2s::testing::Read& r) {
    std::set<std::string> out;
    for (const auto& row : r.rows) out.insert(nlohmann::json::parse(row.json)["AlertId"].get<std::string>());
    return out;
  };
  auto plain = read_all(*source->open({"inbound", head, std::nullopt}));
  EXPECT_EQ(ids(plain).count(late["id"].get<std::string>()), 0u) << "a poll from the head cannot see it";
  auto scope = source->head_scope("inbound", head, 300);
  ASSERT_TRUE(scope);
  auto held = read_all(*source->open(*scope));
  EXPECT_EQ(held.pages, 1) << "one request";
  EXPECT_TRUE(held.caught_up);
  EXPECT_EQ(ids(held).count(late["id"].get<std::string>()), 1u)
      << "the held-back poll returns the late alert";
  EXPECT_GE(*parse_time(held.cursor), *parse_time(head)) << "the reported cursor never goes below the head";
  EXPECT_FALSE(source->head_scope("inbound", head, 0)) << "ETP_OVERLAP_S=0: no hold-back";
}
