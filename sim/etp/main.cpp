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
         "               [--rate-limit N] [--token-ttl S] [--tie-burst N] [--latency-ms N] [--jitter-ms N]\n"
         "               [--late-percent N] [--modified-percent N] [--huge-subject-bytes N]\n"
         "               [--clean-messages N]\n"
         "env: ETP_SIM_API_KEY, ETP_SIM_CLIENT_ID, ETP_SIM_CLIENT_SECRET\n"
         "admin: GET /sim/stats, GET /sim/truth, POST /sim/faults, POST /sim/alerts, POST /sim/modify\n";
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
      else
        return usage();
    } catch (const std::exception&) {
      return usage();
    }
  }
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
