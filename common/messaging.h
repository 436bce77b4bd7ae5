#pragma once
// Messages between roles: ZeroMQ multipart [type, JSON body]. Version 1 of the protocol:
//   fetcher → coordinator (DEALER → ROUTER): want_work, heartbeat, release, done, fatal
//   coordinator → fetcher: lease, no_work, stop
//   fetcher → shipper (DEALER → ROUTER): ship            shipper → fetcher: accepted, report
#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

namespace etp2s {

constexpr const char* kProtocolVersion = "etp2s/1";

struct Message {
  std::string identity;  // ROUTER side only: who sent it
  std::string type;
  nlohmann::json body;
};

// The process-wide context (inproc endpoints need one shared context).
zmq::context_t& zmq_context();

// Never blocks: false if no peer can take the message now (the callers' timeouts and resends cover that).
bool send_message(zmq::socket_t& socket, const std::string& type, const nlohmann::json& body,
                  const std::string& identity = "");
// Receives one message if one arrives within `timeout`; malformed messages are dropped (and logged).
std::optional<Message> receive_message(zmq::socket_t& socket, std::chrono::milliseconds timeout, bool router);

}  // namespace etp2s
