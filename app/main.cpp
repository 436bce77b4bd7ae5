// etp2sentinel: one binary, one subcommand per role.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "common/backoff.h"
#include "common/config.h"
#include "common/etp_client.h"
#include "common/log.h"
#include "common/pager.h"

using namespace etp2s;

namespace {

std::shared_ptr<EtpAuth> make_auth(const Config& c) {
  if (!c.etp_uses_oauth()) return std::make_shared<ApiKeyAuth>(c.etp_api_key);
  HttpOptions http{c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle};
  return std::make_shared<OAuthClientCredentials>(
      OAuthSettings{c.etp_token_url, c.etp_client_id, c.etp_client_secret, c.etp_scopes, http});
}

// `fetch`: page every configured traffic type over the backfill window and print one JSON line per alert
// version (stdout) — the vendor client on its own, paced at the configured budget, no Redis, no shipping.
int cmd_fetch(const Config& c) {
  EtpClient client(
      {c.etp_base_url, {c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle}},
      make_auth(c));
  const auto spacing = std::chrono::microseconds(61'000'000 / c.etp_rate_limit_per_min);
  auto next_slot = std::chrono::steady_clock::now();
  std::size_t total = 0;
  for (const auto& traffic : c.etp_traffic_types) {
    PagerOptions po;
    po.traffic_type = traffic;
    po.size = c.etp_page_size;
    CursorPager pager(po, format_vendor(now_micros() - c.etp_backfill_days * kMicrosPerDay));
    Backoff backoff;
    for (;;) {
      std::this_thread::sleep_until(next_slot);
      next_slot = std::chrono::steady_clock::now() + spacing;
      auto page = client.summary(pager.next_query());
      if (!page) {
        const EtpError& e = page.error();
        if (e.fatal()) {
          log::error("fetch.fatal", {{"error", e.message}});
          return 1;
        }
        double wait = backoff.next(e.retry_after_s);
        log::warn("fetch.retry", {{"error", e.message}, {"wait_s", wait}});
        std::this_thread::sleep_for(std::chrono::duration<double>(wait));
        continue;
      }
      backoff.reset();
      for (const auto& r : page->rejected) log::error("fetch.rejected_record", {{"reason", r.reason}});
      PageResult pr = pager.accept(page.value());
      if (pr.stuck) {
        log::error(
            "fetch.stuck_cursor",
            {{"at", pr.stuck->at}, {"seen", pr.stuck->seen}, {"resumed_from", pr.stuck->resumed_from}});
      }
      for (const auto& a : pr.alerts) {
        std::cout << nlohmann::json{{"id", a.id},
                                    {"etp_message_id", a.etp_message_id},
                                    {"last_modified_on", a.last_modified_on},
                                    {"traffic_type", a.traffic_type}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
      }
      total += pr.alerts.size();
      if (pr.finished()) break;
    }
  }
  log::info("fetch.done", {{"alerts", total}});
  return 0;
}

int usage() {
  std::cerr
      << "usage: etp2sentinel <command>\n"
         "  fetch     page the ETP alert summary over the backfill window and print alert versions\n"
         "configuration: environment variables (see README), optionally ETP2S_CONFIG_FILE=<KEY=VALUE file>\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "fetch") {
    auto cfg = load_config(process_env(), ConfigNeeds{true, false, false});
    if (!cfg) {
      std::cerr << cfg.error() << "\n";
      return 2;
    }
    log::set_level(cfg->log_level);
    return cmd_fetch(cfg.value());
  }
  return usage();
}
