// The operator files reference only metrics the code exports. The README's metric table is tied to a live
// /metrics scrape by EndToEnd.MetricsAgreeWithWhatTheStandInsSaw; here the rules and the dashboard are tied
// to it.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace {
std::string read(const std::string& rel) {
  std::ifstream in(std::string(ETP2S_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> names_in(const std::string& text) {
  static const std::regex kName("etp2s_[a-z0-9_]+");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName); it != std::sregex_iterator(); ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s(suffix);
      if (n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0)
        n.resize(n.size() - s.size());
    }
    out.insert(n);
  }
  return out;
}

std::set<std::string> documented() {
  std::string readme = read("README.md");
  std::set<std::string> out;
  static const std::regex kRow("\\| `(etp2s_[a-z0-9_]+)` \\|");
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), kRow); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}
}  // namespace

TEST(DeployFiles, AlertRulesUseOnlyExportedMetrics) {
  auto known = documented();
  ASSERT_GE(known.size(), 20u);
  auto used = names_in(read("deploy/prometheus/rules/etp2sentinel.rules.yml"));
  ASSERT_GE(used.size(), 5u);
  for (const auto& n : used) EXPECT_TRUE(known.count(n)) << n << " is used by a rule but not exported";
}

TEST(DeployFiles, DashboardUsesOnlyExportedMetricsAndCoversTheOperatorsQuestions) {
  auto known = documented();
  auto dash = nlohmann::json::parse(read("deploy/grafana/dashboards/etp2sentinel.json"));
  std::string exprs;
  std::set<std::string> titles;
  for (const auto& p : dash["panels"]) {
    titles.insert(p["title"].get<std::string>());
    for (const auto& t : p["targets"]) exprs += t["expr"].get<std::string>() + "\n";
  }
  for (const auto& n : names_in(exprs))
    EXPECT_TRUE(known.count(n)) << n << " is on the dashboard but not exported";
  for (const char* needed :
       {"etp2s_partition_progress_ratio", "etp2s_budget_used", "etp2s_cursor_lag_seconds",
        "etp2s_shipper_batches_total", "etp2s_leases_total", "etp2s_etp_requests_total"}) {
    EXPECT_TRUE(names_in(exprs).count(needed)) << needed << " is not on the dashboard";
  }
}

TEST(DeployFiles, ACheckThatCanFail) {
  // The check above must reject an unknown name: prove the matcher sees one.
  EXPECT_EQ(names_in("rate(etp2s_made_up_total[5m])"), std::set<std::string>{"etp2s_made_up_total"});
  EXPECT_FALSE(documented().count("etp2s_made_up_total"));
}
