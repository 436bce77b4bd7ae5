// sentinel-sim: run the Azure stand-in from the command line. Its expected secrets come from the environment
// (SENTINEL_SIM_CLIENT_SECRET, SENTINEL_SIM_SHARED_KEY, SENTINEL_SIM_IDENTITY_HEADER), never from arguments.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "sim/serve.h"

#include "sim/sentinel/sentinel_sim.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  etp2s::sim::SentinelSimOptions o;
  std::string port_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--port")
      o.port = std::atoi(v.c_str());
    else if (a == "--port-file")
      port_file = v;
    else if (a == "--token-ttl")
      o.token_ttl_s = std::atoi(v.c_str());
    else if (a == "--certificate")
      o.certificate_pem_path = v;
    else if (a == "--count-only")
      o.keep_rows = v != "1";
    else {
      std::cerr << "usage: sentinel-sim [--port N] [--port-file PATH] [--token-ttl S] [--certificate PEM] "
                   "[--count-only 1]\n";
      return 2;
    }
  }
  if (const char* v = std::getenv("SENTINEL_SIM_CLIENT_SECRET")) o.client_secret = v;
  if (const char* v = std::getenv("SENTINEL_SIM_SHARED_KEY")) o.shared_key = v;
  if (const char* v = std::getenv("SENTINEL_SIM_IDENTITY_HEADER")) o.identity_header = v;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  etp2s::sim::SentinelSim sim(o);
  etp2s::sim::write_port_file(port_file, sim.port());
  std::cout << "{\"event\":\"sentinel-sim listening\",\"base_url\":\"" << sim.base_url() << "\",\"tenant\":\""
            << o.tenant_id << "\",\"client_id\":\"" << o.client_id << "\",\"dcr_id\":\"" << o.dcr_id << "\"}"
            << std::endl;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sim.stop();
  return 0;
}
