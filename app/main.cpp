// etp2sentinel: one binary, one subcommand per role.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "app/function_host.h"
#include "common/backoff.h"
#include "common/budget.h"
#include "common/config.h"
#include "common/etp_client.h"
#include "common/fingerprint.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/state.h"
#include "coordinator/coordinator.h"
#include "fetcher/fetcher.h"
#include "shipper/service.h"
#include "sources/lookups.h"
#include "sources/source.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <csignal>

using namespace etp2s;

namespace {

std::shared_ptr<EtpAuth> make_auth(const Config& c) {
  if (!c.etp_uses_oauth()) return std::make_shared<ApiKeyAuth>(c.etp_api_key);
  HttpOptions http{c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle};
  return std::make_shared<OAuthClientCredentials>(
      OAuthSettings{c.etp_token_url, c.etp_client_id, c.etp_client_secret, c.etp_scopes, http});
}

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

// `fetch`: read every enabled source over the backfill window, each traffic type from the window's start to
// the head, and print each row as it would go to Sentinel (one JSON object a line on stdout) — the paged
// vendor side on its own, paced at the configured budget, no Redis, no shipping. Stops on SIGTERM.
int cmd_fetch(const Config& c) {
  auto client = std::make_shared<EtpClient>(
      EtpClientOptions{c.etp_base_url,
                       {c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle}},
      make_auth(c));
  const auto spacing = std::chrono::microseconds(BudgetOptions{}.window_ms * 1000 / c.etp_rate_limit_per_min);
  auto next_slot = std::chrono::steady_clock::now();
  std::size_t total = 0, gaps = 0;
  for (const auto& name : enabled_sources(c)) {
    auto source = make_source(name, SourceContext{c, client, row_limits_for_mode(c.sentinel_mode)});
    if (!source || source->lookup()) continue;  // lookups need the queue in Redis: `run` drains them
    for (const auto& traffic : c.etp_traffic_types) {
      auto reader =
          source->open({traffic, format_vendor(now_micros() - c.etp_backfill_days * kMicrosPerDay), {}});
      Backoff backoff;
      int unreadable = 0;
      for (bool finished = false; !finished && !g_stop;) {
        std::this_thread::sleep_until(next_slot);
        next_slot = std::chrono::steady_clock::now() + spacing;
        auto page = reader->read_page();
        if (!page) {
          if (page.error().fatal()) {
            log::error("fetch.fatal", {{"error", page.error().message}});
            return 1;
          }
          SourcePage skipped;
          if (page.error().unreadable && ++unreadable >= c.etp_unreadable_page_attempts) {
            unreadable = 0;
            if (auto step = reader->unreadable(skipped); step != Unreadable::Retry) {
              if (skipped.gap) {
                log::error("fetch.gap", {{"at", skipped.gap->at}, {"detail", skipped.gap->detail}});
                ++gaps;
              }
              finished = skipped.finished();
              continue;
            }
          }
          double wait = backoff.next(page.error().retry_after_s);
          log::warn("fetch.retry", {{"error", page.error().message}, {"wait_s", wait}});
          std::this_thread::sleep_for(std::chrono::duration<double>(wait));
          continue;
        }
        backoff.reset();
        unreadable = 0;
        for (const auto& r : page->rejected) log::error("fetch.rejected_record", {{"record", r}});
        if (page->gap) {
          log::error("fetch.gap", {{"at", page->gap->at}, {"count", page->gap->count}});
          ++gaps;
        }
        for (const auto& row : page->rows) std::cout << row.json << "\n";
        total += page->rows.size();
        finished = page->finished();
      }
    }
  }
  log::info("fetch.done", {{"rows", total}, {"gaps", gaps}, {"stopped", g_stop.load()}});
  return gaps > 0 ? 4 : 0;  // never 0 with a hole in what was printed
}

std::string host_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

// A role's run at a thread boundary: an exception (a broken invariant) becomes a recorded fatal error with a
// clear message and exit code 3 — never std::terminate with the other roles still running.
int guarded(const char* role, const Config& c, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::exception& e) {
    std::string message = std::string("internal error in the ") + role + ": " + e.what();
    log::error("role.crashed", {{"role", role}, {"error", message}});
    if (auto addr = redis_address(c)) {
      Redis redis(addr.value());
      StateStore(redis).set_fatal(fatal_code::kInternal, message);
    }
    return 3;
  }
}

// Core dumps would hold every secret in clear (tokens, keys): none are written, and the process is not
// dumpable.
void no_core_dumps() {
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// This process's own view of the state store (the roles open their own connections). One connection, kept:
// with rediss:// every new one is a TLS handshake.
struct StateConnection {
  explicit StateConnection(RedisAddress a) : redis(std::move(a)), store(redis) {}
  Redis redis;
  StateStore store;
};
std::shared_ptr<StateConnection> open_state(const Config& c) {
  auto addr = redis_address(c);  // load_config has already validated it
  return addr ? std::make_shared<StateConnection>(addr.value()) : nullptr;
}

// The lengths of the lists where data is knowingly set aside (gaps, dead letters) as gauges, read from Redis
// every few seconds on a connection of its own. One role publishes them (the coordinator, or the one process
// of `run` / `backfill` / `function-host`), so a scrape of every role does not count a list twice.
class StateListGauges {
 public:
  explicit StateListGauges(const Config& c) : state_(open_state(c)) {
    if (state_) thread_ = std::thread([this] { loop(); });
  }
  ~StateListGauges() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  StateListGauges(const StateListGauges&) = delete;
  StateListGauges& operator=(const StateListGauges&) = delete;

 private:
  void loop() {
    auto& m = Metrics::get();
    while (!stop_ && !g_stop) {
      auto t0 = std::chrono::steady_clock::now();
      auto pong = state_->redis.command({"PING"});
      bool up = pong && pong->type != RedisReply::Type::Error;
      m.redis_up().Set(up ? 1 : 0);
      if (up)
        m.redis_ping_seconds().Set(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      (void)state_->store.expire_old_list_entries();  // entries past their TTL go even when nothing is added
      if (auto n = state_->store.gap_count())
        m.state_list_entries("gaps").Set(static_cast<double>(n.value()));
      if (auto n = state_->store.dead_letter_count())
        m.state_list_entries("dead_letters").Set(static_cast<double>(n.value()));
      for (int i = 0; i < 20 && !stop_ && !g_stop; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  std::shared_ptr<StateConnection> state_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The gaps recorded while the current plan ran: alerts the vendor's API could not page past, skipped.
Result<std::vector<GapRecord>, std::string> plan_gaps(StateStore& store) {
  auto created = store.plan_created();
  if (!created) return err(created.error());
  auto all = store.gaps();
  if (!all) return err(all.error());
  std::vector<GapRecord> out;
  for (auto& g : all.value()) {
    if (g.recorded_us >= created.value()) out.push_back(std::move(g));
  }
  return out;
}

// `backfill` never exits 0 with a hole in the record: exit 4 and name every instant that was skipped (or say
// that the gap list could not be read).
int backfill_exit_code(const Result<std::vector<GapRecord>, std::string>& gaps) {
  if (!gaps) {
    std::cerr
        << "etp2sentinel: backfill delivered the window, but whether gaps were recorded cannot be read ("
        << log::redact(gaps.error()) << "): run `etp2sentinel status` once Redis answers\n";
    return 4;
  }
  if (gaps.value().empty()) return 0;
  std::cerr
      << "etp2sentinel: backfill delivered the window with " << gaps.value().size()
      << " gap(s) (docs/pager.md): an instant where more alerts share one last_modified_on than the vendor's "
         "API can page past (those beyond the first page were skipped), or a range from/to given up because "
         "the vendor kept answering a page with a body that cannot be read:\n";
  for (const auto& g : gaps.value()) {
    bool range = g.at.find('/') != std::string::npos;
    std::cerr << "  gap: partition " << g.partition << (range ? " range " : " at ") << g.at;
    if (range)
      std::cerr << " (unreadable; records never seen)\n";
    else
      std::cerr << " (" << g.seen << " alerts seen at that instant)\n";
  }
  return 4;
}

// `run` and `backfill`: every role in this process over inproc transports.
int cmd_embedded(Config c, bool backfill_only) {
  c.coordinator_endpoint = "inproc://coordinator";
  c.shipper_endpoint = "inproc://shipper";
  auto state = open_state(c);
  if (!state) return 2;
  // The state in Redis must be this configuration's (common/fingerprint.h), before any role starts.
  auto claimed = claim_state(state->store, "vendor", vendor_fingerprint(c), c, g_stop);
  if (claimed && usable(*claimed) && state->store.plan_exists().value_or(false))
    claimed = claim_state(state->store, "plan", plan_fingerprint(c), c, g_stop);
  if (!claimed) return 0;  // stopped while Redis was unreachable
  if (!usable(*claimed)) return 2;
  // Starting again means the operator fixed what stopped us last time: clear the recorded fatal error first.
  state->store.clear_fatal();
  StateListGauges list_gauges(c);
  std::atomic<int> fetchers_running{c.fetchers};
  std::atomic<bool> stop_roles{false}, stop_fetchers{false};
  Coordinator coordinator(c, {c.coordinator_endpoint, c.lease_ttl_s, kMicrosPerSecond, 5});
  std::atomic<int> coord_rc{0};
  int ship_rc = 0;
  std::atomic<bool> coord_ended{false};
  std::thread coord([&] {
    coord_rc = guarded("coordinator", c, [&] { return coordinator.run(stop_roles); });
    coord_ended = true;
  });
  std::thread ship([&] {
    ship_rc = guarded("shipper", c, [&] {
      return ShipperService(c, {host_id() + ":shipper", c.shipper_endpoint}).run(stop_roles);
    });
  });
  std::vector<std::thread> fetchers;
  std::vector<int> fetch_rc(static_cast<std::size_t>(c.fetchers), 0);
  std::vector<FetcherOptions> fopts;
  for (int i = 0; i < c.fetchers; ++i) fopts.push_back({host_id() + ":fetcher-" + std::to_string(i)});
  for (int i = 0; i < c.fetchers; ++i) {
    fetchers.emplace_back([&, i] {
      fetch_rc[i] = guarded("fetcher", c, [&] { return Fetcher(c, fopts[i]).run(stop_fetchers); });
      --fetchers_running;
    });
  }
  std::optional<FatalError> fatal;
  auto started = now_micros();
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if ((fatal = state->store.fatal())) break;  // recorded by any role (ETP auth, Sentinel 403, ...)
    if (backfill_only && coordinator.backfill_complete()) break;
    if (fetchers_running == 0) break;
    if (coord_ended) break;  // it could not listen, or refused the plan (logged)
  }
  if (!fatal && !g_stop && fetchers_running == 0)
    fatal = state->store.fatal().value_or(FatalError{fatal_code::kInternal, "every fetcher stopped"});
  log::info("stopping", {{"reason", fatal         ? "fatal"
                                    : g_stop      ? "signal"
                                    : coord_ended ? "coordinator ended"
                                                  : "backfill complete"}});
  // Fetchers first (they flush and commit what the shipper still reports), then the shipper and coordinator.
  stop_fetchers = true;
  for (auto& t : fetchers) t.join();
  stop_roles = true;
  coord.join();
  ship.join();
  if (fatal) {
    log::error("stopped_on_fatal", {{"code", fatal->code}, {"error", fatal->detail}});
    std::cerr << "etp2sentinel: stopped: " << log::redact(fatal->text()) << "\n";
    return 3;
  }
  if (coord_rc != 0) {
    std::cerr << "etp2sentinel: stopped: the coordinator ended with exit code " << coord_rc
              << " (its log says why)\n";
    return coord_rc;
  }
  if (backfill_only && !g_stop) {
    double secs = static_cast<double>(now_micros() - started) / kMicrosPerSecond;
    long long delivered = 0;
    if (auto parts = state->store.partitions()) {
      for (const auto& p : parts.value()) {
        if (lookup_queue_of(p.source).empty()) delivered += p.delivered;
      }
    }
    // Lookups wait for the budget paging leaves: `run` drains them (newest first); say how many and how long.
    nlohmann::json lookups = describe_lookups(state->redis, state->store.prefix(), c);
    for (auto& q : lookups) {
      double per_min = std::max(1.0, c.etp_rate_limit_per_min / 3.0);  // the steady-state share of a route
      q["run_drains_in_s"] = 60.0 * q["waiting"].get<double>() / per_min;
    }
    auto gaps = plan_gaps(state->store);
    std::cout << nlohmann::json{{"backfill", "complete"},
                                {"alert_versions_delivered", delivered},
                                {"seconds", secs},
                                {"days", c.etp_backfill_days},
                                {"lookups_queued", lookups},
                                {"gaps", gaps ? static_cast<long long>(gaps.value().size()) : -1}}
                     .dump()
              << std::endl;
    int rc = backfill_exit_code(gaps);
    // A supporting stream switched off (a missing entitlement) left its part of the window unread: a hole.
    if (auto off = state->store.disabled_sources(); off && !off->empty()) {
      for (const auto& [source, why] : off.value())
        std::cerr << "etp2sentinel: backfill delivered the window without " << source
                  << ", switched off: " << log::redact(why)
                  << " — grant the entitlement and run backfill again; its unread part is still planned\n";
      rc = 4;
    }
    return rc;
  }
  return 0;
}

// The answer to one timer invocation: the pipeline's state, HTTP 500 while something is wrong.
HandlerReply tick_reply(StateStore& store, bool pipeline_running) {
  nlohmann::json state{{"pipeline", pipeline_running ? "running" : "stopped"}};
  std::optional<std::string> problem;
  if (!pipeline_running) problem = "the pipeline stopped";
  if (auto parts = store.partitions()) {
    long long delivered = 0, done = 0;
    for (const auto& p : parts.value()) {
      if (lookup_queue_of(p.source).empty()) delivered += p.delivered;  // lookups are not alert versions
      done += p.state == PartitionState::Done || p.live();
    }
    state["alert_versions_delivered"] = delivered;
    state["partitions"] = parts.value().size();
    state["partitions_done_or_live"] = done;
  } else {
    problem = "state store unavailable: " + parts.error();
  }
  if (auto fatal = store.fatal()) problem = "fatal: " + fatal->text();
  if (problem) state["problem"] = log::redact(*problem);
  nlohmann::json logs =
      nlohmann::json::array({problem ? "etp2sentinel: " + log::redact(*problem) : "etp2sentinel: running"});
  nlohmann::json reply{{"Outputs", nlohmann::json::object()}, {"Logs", logs}, {"ReturnValue", state}};
  return {problem ? 500 : 200, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

// `function-host`: the custom handler of the Azure Functions app (deploy/azure/function). Every role runs
// in-process as with `run`; the timer trigger `tick` is answered with the pipeline's state, HTTP 500 once a
// fatal error is recorded or the pipeline stopped, so the Functions monitoring shows a stopped connector as
// failing invocations. After a fatal stop the process keeps answering (the platform would only restart it
// into the same error); changing the app's settings restarts it, and the start clears the recorded error.
int cmd_function_host(const Config& c) {
  const char* port_env = std::getenv("FUNCTIONS_CUSTOMHANDLER_PORT");
  int port = port_env ? std::atoi(port_env) : 0;
  if (port <= 0 || port > 65535) {
    std::cerr
        << "function-host: FUNCTIONS_CUSTOMHANDLER_PORT must be a port number (the Functions host sets it)\n";
    return 2;
  }
  std::atomic<bool> pipeline_running{true};
  auto state = open_state(c);
  if (!state) return 2;
  FunctionHost host(port, [&pipeline_running, state](const std::string& function, const std::string&) {
    if (function != "tick")
      return HandlerReply{404, R"({"Outputs":{},"Logs":["no such function"],"ReturnValue":null})"};
    return tick_reply(state->store, pipeline_running);
  });
  if (host.bound_port() < 0) return 2;
  std::thread http([&] { host.run(g_stop); });
  int rc = cmd_embedded(c, false);
  pipeline_running = false;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  http.join();
  return rc;
}

// `status` for a person: the same numbers as the JSON document, as a table.
void print_status_table(const nlohmann::json& st) {
  auto eta = [](const nlohmann::json& j) {
    if (!j.contains("eta_s")) return std::string("-");
    auto s = j["eta_s"].get<double>();
    return s < 0 ? std::string("unknown") : std::to_string(static_cast<long long>(s)) + "s";
  };
  std::printf("%-16s %7s %10s %10s  %s\n", "STREAM", "DONE", "DELIVERED", "ROWS/S", "ETA / LAG");
  for (const auto& [name, s] : st["streams"].items()) {
    std::string when = s.value("backfilling", false) && s.value("share", 1.0) < 1.0 ? eta(s)
                       : s.value("lag_s", -1.0) >= 0
                           ? "lag " + std::to_string(static_cast<long long>(s["lag_s"].get<double>())) + "s"
                           : "";
    std::printf("%-16s %6.1f%% %10lld %10.1f  %s\n", name.c_str(), 100.0 * s.value("share", 0.0),
                s.value("delivered", 0LL), s.value("rows_per_s", 0.0), when.c_str());
  }
  std::printf("rates: %s\n\n", st["rates"].get<std::string>().c_str());
  std::printf("%-16s %-8s %7s %10s  %-24s %s\n", "PARTITION", "STATE", "DONE", "DELIVERED", "CURSOR",
              "ETA / LAG");
  for (const auto& p : st["partitions"]) {
    std::string when = p.contains("lag_s")    ? "lag " + std::to_string(p["lag_s"].get<long long>()) + "s"
                       : p["state"] == "done" ? ""
                                              : eta(p);
    std::printf("%-16s %-8s %6.1f%% %10lld  %-24s %s\n", p["partition"].get<std::string>().c_str(),
                p["state"].get<std::string>().c_str(), 100.0 * p["done_ratio"].get<double>(),
                p["delivered"].get<long long>(), p["cursor"].get<std::string>().c_str(), when.c_str());
  }
  for (const auto& q : st["lookups"]) {
    std::printf("lookups %-14s %lld waiting, %.1f/min drained%s\n", q["source"].get<std::string>().c_str(),
                q["waiting"].get<long long>(), q["drained_per_min"].get<double>(),
                q.contains("switched_off")
                    ? (", switched off: " + q["switched_off"].get<std::string>()).c_str()
                    : "");
  }
  if (st.contains("alert_api")) {
    const auto& a = st["alert_api"];
    std::printf("alert API: %s (ETP_API=%s)%s\n", a["reading"].get<std::string>().c_str(),
                a["configured"].get<std::string>().c_str(),
                a.contains("v1_retired")
                    ? (" — v1 answered as retired at " + a["v1_retired"].value("at", std::string())).c_str()
                    : "");
  }
  std::printf("coordinator: %s\n", st["coordinator"].get<std::string>().empty()
                                       ? "none running"
                                       : st["coordinator"].get<std::string>().c_str());
  if (st["gaps"].contains("entries")) {
    std::printf("gaps: %lld", st["gaps"]["entries"].get<long long>());
    for (const auto& g : st["gaps"]["newest"])
      std::printf("\n  %s at %s (%lld seen)", g["partition"].get<std::string>().c_str(),
                  g["at"].get<std::string>().c_str(), g["seen"].get<long long>());
    std::printf("\n");
  }
  if (st["dead_letters"].contains("entries"))
    std::printf("dead letters: %lld\n", st["dead_letters"]["entries"].get<long long>());
  if (!st["fatal"].is_null())
    std::printf("FATAL %s: %s\n", st["fatal"]["code"].get<std::string>().c_str(),
                st["fatal"]["detail"].get<std::string>().c_str());
}

int cmd_status(const Config& c, bool json) {
  auto state = open_state(c);
  if (!state) return 2;
  StateStore& store = state->store;
  auto parts = store.partitions();
  if (!parts) {
    std::cerr << "status: " << parts.error() << "\n";
    return 1;
  }
  // Rates and ETAs are the serving coordinator's measurement over its last minute (published every second,
  // kept 10 s): without a running coordinator there is nothing current to show, and none is made up.
  const auto measured = store.progress();
  auto number = [](const nlohmann::json& j, const char* key, double otherwise) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : otherwise;
  };
  auto flag = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
  };
  std::map<std::string, ProgressView::Rate> rates;
  nlohmann::json streams = nlohmann::json::object();
  if (measured) {
    if (auto it = measured->find("partitions"); it != measured->end() && it->is_object()) {
      for (const auto& [id, r] : it->items())
        rates[id] = {number(r, "rows_per_s", 0), number(r, "eta_s", -1)};
    }
    if (auto it = measured->find("streams"); it != measured->end() && it->is_object()) {
      for (const auto& [name, st] : it->items()) {
        if (!st.is_object()) continue;
        streams[name] = {{"share", number(st, "share", 0)},
                         {"delivered", static_cast<long long>(number(st, "delivered", 0))},
                         {"rows_per_s", number(st, "rows_per_s", 0)},
                         {"eta_s", number(st, "eta_s", -1)},
                         {"lag_s", number(st, "lag_s", -1)},
                         {"caught_up", flag(st, "caught_up")},
                         {"backfilling", flag(st, "backfilling")}};
      }
    }
  }
  auto lines = describe_progress(parts.value(), now_micros(), rates);
  auto fatal = store.fatal();
  const std::string serving = store.coordinator_lock_holder().value_or("");
  nlohmann::json out{
      {"partitions", lines},
      {"lookups", describe_lookups(state->redis, store.prefix(), c)},
      {"streams", streams},
      {"rates", measured          ? "measured by the running coordinator over its last minute"
                : serving.empty() ? "not measured: no coordinator is running"
                                  : "not measured: the serving coordinator published none in the last 10 s"},
      {"fatal", fatal ? nlohmann::json{{"code", fatal->code}, {"detail", log::redact(fatal->detail)}}
                      : nlohmann::json()},
      {"coordinator", serving}};  // the one serving
  // Which vendor alert API the alerts are read with (ETP_API=auto moves to v2 when v1 answers as retired).
  auto retired = store.v1_retired();
  bool on_v2 = c.etp_api == "v2" || (c.etp_api == "auto" && retired && retired.value());
  out["alert_api"] = {{"configured", c.etp_api}, {"reading", on_v2 ? "v2" : "v1"}};
  if (retired && retired.value()) out["alert_api"]["v1_retired"] = *retired.value();
  // Where data was knowingly set aside: the recorded gaps (the newest named) and the dead letters.
  constexpr std::size_t kGapsShown = 20;
  if (auto gaps = store.gaps()) {
    nlohmann::json recent = nlohmann::json::array();
    const auto& all = gaps.value();
    for (std::size_t i = all.size() > kGapsShown ? all.size() - kGapsShown : 0; i < all.size(); ++i) {
      recent.push_back({{"partition", all[i].partition},
                        {"at", all[i].at},
                        {"seen", all[i].seen},
                        {"recorded", format_iso_ms(all[i].recorded_us)}});
    }
    out["gaps"] = {{"entries", all.size()}, {"newest", recent}};
    if (auto d = store.gap_drops())
      out["gaps"]["dropped"] = {{"over_cap", d->over_cap}, {"expired", d->expired}};
  } else {
    out["gaps"] = {{"error", log::redact(gaps.error())}};
  }
  if (auto n = store.dead_letter_count()) {
    out["dead_letters"] = {{"entries", n.value()}};
    if (auto d = store.dead_letter_drops())
      out["dead_letters"]["dropped"] = {{"over_cap", d->over_cap}, {"expired", d->expired}};
  } else {
    out["dead_letters"] = {{"error", log::redact(n.error())}};
  }
  if (json)
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  else
    print_status_table(out);
  // Non-zero while a fatal error is recorded: the compose healthchecks rely on it.
  if (fatal) {
    std::cerr << "status: stopped on a fatal error: " << log::redact(fatal->text()) << "\n";
    return 3;
  }
  return 0;
}

// `retry-gaps`: every recorded gap that can be read again becomes a partition of its own — a tie's instant
// (that millisecond, read through the tie filters again) or an unreadable range (from/to) — and leaves the
// gap list. A running `run` picks the partitions up at once, else the next `backfill` or `run` reads them;
// what still cannot be read is recorded again. The dedupe marks drop what was delivered before. A possible
// hole at a v1 → v2 switch (modified-after/T) cannot be re-read and stays listed. Exit 0: everything
// retryable was queued; 1: Redis did not answer.
int cmd_retry_gaps(const Config& c) {
  auto state = open_state(c);
  if (!state) return 2;
  StateStore& store = state->store;
  auto entries = store.gap_entries();
  auto parts = store.partitions();
  if (!entries || !parts) {
    std::cerr << "retry-gaps: " << log::redact(entries ? parts.error() : entries.error()) << "\n";
    return 1;
  }
  std::map<std::string, const Partition*> by_id;
  for (const auto& p : parts.value()) by_id[p.id] = &p;
  std::vector<Partition> queue;
  std::vector<std::string> handled;
  std::size_t kept = 0;
  for (const auto& [text, g] : entries.value()) {
    auto keep = [&, &g = g](const std::string& why) {
      ++kept;
      std::cout << "kept: partition " << g.partition << " " << g.at << ": " << why << "\n";
    };
    // An instant is that millisecond; a range is from/to.
    auto slash = g.at.find('/');
    auto first = parse_time(slash == std::string::npos ? g.at : g.at.substr(0, slash));
    auto second = slash == std::string::npos ? first : parse_time(g.at.substr(slash + 1));
    const bool readable = first.has_value() && second.has_value();
    const Micros from = readable ? *first : 0;
    const Micros to = readable ? (slash == std::string::npos ? from + 1000 : *second) : 0;
    auto original = by_id.find(g.partition);
    if (g.at.rfind("modified-after/", 0) == 0) {
      keep("alerts modified after the switch to v2 cannot be found again through v2");
      continue;
    }
    if (!readable || to <= from) {
      keep("not an instant or a range");
      continue;
    }
    if (original == by_id.end()) {
      keep("its partition is not in the plan (a new plan was made since)");
      continue;
    }
    const Partition& o = *original->second;
    auto source = make_source(o.source, SourceContext{c, nullptr, row_limits_for_mode(c.sentinel_mode)});
    auto cursor = source ? source->start_cursor(from) : std::nullopt;
    if (!cursor) {
      keep("its source cannot read a range of its own");
      continue;
    }
    Partition q;
    q.id = o.id.substr(0, o.id.find('+')) + "~retry-" + std::to_string(from / 1000) + "-" +
           std::to_string(to / 1000);
    q.source = o.source;
    q.traffic_type = o.traffic_type;
    q.domain = o.domain;
    q.start_us = from;
    q.end_us = to;
    q.cursor = *cursor;
    handled.push_back(text);
    // Queued before (a retry-gaps that stopped before the entry was removed): not twice.
    if (by_id.count(q.id) || std::any_of(queue.begin(), queue.end(), [&](auto& x) { return x.id == q.id; }))
      continue;
    std::cout << "queued: " << q.id << " (" << format_iso_ms(from) << " to " << format_iso_ms(to) << ")\n";
    queue.push_back(std::move(q));
  }
  // The partitions first, then the entries: a stop in between leaves a gap listed that is also queued.
  if (auto ok = store.add_partitions(queue); !ok) {
    std::cerr << "retry-gaps: " << log::redact(ok.error()) << "\n";
    return 1;
  }
  for (const auto& text : handled) {
    if (auto ok = store.remove_gap(text); !ok) {
      std::cerr << "retry-gaps: " << log::redact(ok.error()) << "\n";
      return 1;
    }
  }
  std::cout << queue.size() << " gap(s) queued for a new read, " << kept << " kept"
            << (queue.empty() ? "" : "; `run` reads them now, or run `backfill`") << "\n";
  return 0;
}

// `keygen [PREFIX]`: a CURVE key pair for the roles (docs/security.md). With PREFIX: PREFIX.secret (mode
// 0600) and PREFIX.public, the public key also printed; without: both printed, as curve_keygen does.
int cmd_keygen(int argc, char** argv) {
  KeyPair k = generate_keypair();
  if (argc < 3) {
    std::cout << "public " << k.public_key << "\nsecret " << k.secret_key.reveal() << "\n";
    return 0;
  }
  const std::string prefix = argv[2];
  umask(077);
  std::ofstream secret(prefix + ".secret", std::ios::trunc);
  secret << k.secret_key.reveal() << "\n";
  std::ofstream pub(prefix + ".public", std::ios::trunc);
  pub << k.public_key << "\n";
  if (!secret || !pub) {
    std::cerr << "keygen: cannot write " << prefix << ".secret / .public\n";
    return 1;
  }
  std::cout << k.public_key << "\n";
  return 0;
}

int usage() {
  std::cerr
      << "usage: etp2sentinel <command>\n"
         "  run          every role in one process: backfill, then steady state, until SIGTERM\n"
         "  function-host  `run` as an Azure Functions custom handler (FUNCTIONS_CUSTOMHANDLER_PORT, "
         "function tick)\n"
         "  backfill     load the configured window, ship everything, exit 0 (4: gaps were recorded)\n"
         "  coordinator  the coordinator role (binds COORDINATOR_ENDPOINT)\n"
         "  fetcher      one fetcher (connects COORDINATOR_ENDPOINT and SHIPPER_ENDPOINT)\n"
         "  shipper      one shipper (binds SHIPPER_ENDPOINT)\n"
         "  status       progress, gaps and dead letters read from Redis (exit 3 while a fatal error is "
         "recorded)\n"
         "  retry-gaps   queue every recorded gap that can be read again as a partition of its own (read by "
         "`run`, or the next `backfill`)\n"
         "  fetch        read the window through every enabled source and print the rows (no Redis)\n"
         "  keygen [PREFIX]  a CURVE key pair for the roles (PREFIX.secret, PREFIX.public; else printed)\n"
         "configuration: environment variables (see README), optionally ETP2S_CONFIG_FILE=<KEY=VALUE file>\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  no_core_dumps();
  std::string cmd = argv[1];
  if (cmd == "keygen") return cmd_keygen(argc, argv);
  ConfigNeeds needs;
  if (cmd == "fetch")
    needs = {true, false, false};
  else if (cmd == "coordinator" || cmd == "status" || cmd == "retry-gaps")
    needs = {false, false, true};
  else if (cmd == "fetcher")
    needs = {true, false, true};
  else if (cmd == "shipper")
    needs = {false, true, true};
  else if (cmd != "run" && cmd != "backfill" && cmd != "function-host")
    return usage();
  auto cfg = load_config(process_env(), needs);
  if (!cfg) {
    std::cerr << cfg.error() << "\n";
    return 2;
  }
  Config& c = cfg.value();
  log::set_level(c.log_level);
  const bool terminal = isatty(STDERR_FILENO) == 1;
  log::set_format(
      c.log_format == "text" || (c.log_format == "auto" && terminal) ? log::Format::Text : log::Format::Json,
      terminal);
  set_default_list_limits({{c.gaps_max_entries, c.gaps_ttl_days * 86400LL},
                           {c.dead_letter_max_entries, c.dead_letter_ttl_days * 86400LL}});
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that went away is an error to handle, not a reason to die
  if (cmd != "fetch" && cmd != "status" && cmd != "retry-gaps" &&
      Metrics::get().serve(c.metrics_address, c.metrics_port) < 0)
    return 2;
  if (cmd == "fetch") return cmd_fetch(c);
  if (cmd == "retry-gaps") return cmd_retry_gaps(c);
  if (cmd == "status") {
    // A person at a terminal gets a table; scripts, healthchecks and `--json` the JSON document.
    bool json = (argc > 2 && std::string(argv[2]) == "--json") || isatty(STDOUT_FILENO) != 1;
    return cmd_status(c, json);
  }
  if (cmd == "run" || cmd == "backfill") return cmd_embedded(c, cmd == "backfill");
  if (cmd == "function-host") return cmd_function_host(c);
  if (cmd == "coordinator") {
    StateListGauges list_gauges(c);
    return guarded("coordinator", c, [&] {
      return Coordinator(c, {c.coordinator_endpoint, c.lease_ttl_s, kMicrosPerSecond, 5}).run(g_stop);
    });
  }
  if (cmd == "shipper") {
    return guarded("shipper", c, [&] {
      return ShipperService(c, {host_id() + ":shipper", c.shipper_endpoint}).run(g_stop);
    });
  }
  FetcherOptions fo{host_id() + ":fetcher"};
  fo.slots = c.fetcher_slots;
  return guarded("fetcher", c, [&] { return Fetcher(c, fo).run(g_stop); });
}
