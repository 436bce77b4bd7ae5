// etp-sim: run the ETP stand-in from the command line. Credentials come from the environment
// (ETP_SIM_API_KEY, ETP_SIM_CLIENT_ID, ETP_SIM_CLIENT_SECRET), never from the command line.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "sim/serve.h"

#include "sim/etp/etp_sim.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

int usage() {
  std::cerr
      << "usage: etp-sim [--port N] [--port-file PATH] [--alerts N] [--days D] [--seed S]\n"
         "               [--rate-limit N] [--token-ttl S] [--tie-burst N] [--tie-uniform 0|1]\n"
         "               [--campaign-percent P] [--campaign-hours H] [--latency-ms "
         "N] [--jitter-ms N]\n"
         "               [--late-percent N] [--modified-percent N] [--huge-subject-bytes N]\n"
         "               [--clean-messages N] [--retire-v1 0|404|410] [--v2-details-unwrapped 0|1]\n"
         "routes: v1 POST /api/v1/alerts, GET /api/v1/alerts/{id}; v2 (synthetic) POST\n"
         "        /api/v2/public/alerts/search, GET /api/v2/public/alerts/{id} (same alerts, same /alerts "
         "budget);\n"
         "        /api/v1/messages/trace, /api/v1/messages/{id}, /api/v1/quarantine\n"
         "  --retire-v1 S: the v1 alert routes answer S (404 or 410; 0: served) with an error envelope\n"
         "  --v2-details-unwrapped 1: v2 details answer the record without the {\"data\": ...} wrapper\n"
         "env: ETP_SIM_API_KEY, ETP_SIM_CLIENT_ID, ETP_SIM_CLIENT_SECRET\n"
         "admin: GET /sim/stats, GET /sim/truth[?stream=trace|trace-all|quarantine|v2], POST /sim/faults\n"
         "       (also {\"retire_v1\": 404|410|0}, {\"v2_details_unwrapped\": true}), POST /sim/alerts,\n"
         "       POST /sim/modify\n";
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  etp2s::sim::EtpSimOptions o;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return usage();
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    try {
      if (a == "--port")
        o.port = std::stoi(v);
      else if (a == "--port-file")
        port_file = v;
      else if (a == "--alerts")
        o.alerts = std::stoi(v);
      else if (a == "--days")
        o.days = std::stoi(v);
      else if (a == "--seed")
        o.seed = std::stoull(v);
      else if (a == "--rate-limit")
        o.rate_limit_per_min = std::stoi(v);
      else if (a == "--token-ttl")
        o.token_ttl_s = std::stoi(v);
      else if (a == "--tie-burst")
        o.tie_burst = std::stoi(v);
      else if (a == "--tie-uniform")
        o.tie_uniform = v == "1";
      else if (a == "--campaign-percent")
        o.campaign_percent = std::stoi(v);
      else if (a == "--campaign-hours")
        o.campaign_hours = std::stoi(v);
      else if (a == "--latency-ms")
        o.latency_ms = std::stoi(v);
      else if (a == "--jitter-ms")
        o.jitter_ms = std::stoi(v);
      else if (a == "--late-percent")
        o.late_percent = std::stoi(v);
      else if (a == "--modified-percent")
        o.modified_percent = std::stoi(v);
      else if (a == "--huge-subject-bytes")
        o.huge_subject_bytes = std::stoi(v);
      else if (a == "--clean-messages")
        o.clean_messages = std::stoi(v);
      else if (a == "--retire-v1")
        o.retire_v1 = std::stoi(v);
      else if (a == "--v2-details-unwrapped")
        o.v2_details_unwrapped = std::stoi(v) != 0;
      else
        return usage();
    } catch (const std::exception&) {
      return usage();
    }
  }
  if (o.retire_v1 != 0 && o.retire_v1 != 404 && o.retire_v1 != 410) return usage();
  if (const char* v = std::getenv("ETP_SIM_API_KEY")) o.api_key = v;
  if (const char* v = std::getenv("ETP_SIM_CLIENT_ID")) o.client_id = v;
  if (const char* v = std::getenv("ETP_SIM_CLIENT_SECRET")) o.client_secret = v;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  etp2s::sim::EtpSim sim(o);
  etp2s::sim::write_port_file(port_file, sim.port());
  std::cout << "{\"event\":\"etp-sim listening\",\"base_url\":\"" << sim.base_url()
            << "\",\"alerts\":" << o.alerts << ",\"days\":" << o.days << "}" << std::endl;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sim.stop();
  return 0;
}
