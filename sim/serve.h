#pragma once
// What both stand-ins share: an httplib server on a background thread, bound to a (free) loopback port.
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace etp2s::sim {

class ServerThread {
 public:
  ServerThread() = default;
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  ~ServerThread() { stop(); }

  // Binds (port 0: any free port), starts serving, returns the port.
  int start(httplib::Server& server, const std::string& host, int port, const std::string& name) {
    server_ = &server;
    int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
    if (bound <= 0) throw std::runtime_error(name + ": cannot bind " + host + ":" + std::to_string(port));
    thread_ = std::thread([&server] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return bound;
  }
  void stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  httplib::Server* server_ = nullptr;
  std::thread thread_;
};

// Written atomically, so a reader never sees half a number.
inline void write_port_file(const std::string& path, int port) {
  if (path.empty()) return;
  std::ofstream(path + ".tmp") << port << "\n";
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace etp2s::sim
