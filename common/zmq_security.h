#pragma once
// Authenticated ZeroMQ between the roles (docs/security.md): CURVE on every tcp socket, a ZAP handler that
// admits only the listed client public keys, and a refusal to use a non-loopback tcp endpoint in the clear
// unless the operator explicitly allows it (ZMQ_INSECURE=1). inproc endpoints (the one-process `run`) need
// none.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "common/result.h"
#include "common/secret.h"

namespace etp2s {

// Keys are Z85 text (40 characters), as curve_keygen and `etp2sentinel keygen` print them.
struct ZmqSecurity {
  std::string server_public;              // the coordinator's and shipper's key (clients need only this one)
  Secret server_secret;                   // servers only
  std::string client_public;              // the fetchers' key
  Secret client_secret;                   // clients only
  std::set<std::string> allowed_clients;  // client public keys the servers admit (ZAP)
  bool insecure = false;                  // ZMQ_INSECURE=1: plain tcp beyond loopback, logged loudly
  bool server_keys() const { return !server_public.empty() && !server_secret.empty(); }
  bool client_keys() const {
    return !client_public.empty() && !client_secret.empty() && !server_public.empty();
  }
};

struct KeyPair {
  std::string public_key;
  Secret secret_key;
};
KeyPair generate_keypair();
// The public key belonging to a Z85 secret key; Err if it is not one.
Result<std::string, std::string> public_key_of(const std::string& secret_z85);
bool is_z85_key(const std::string& key);

enum class Side { Server, Client };
// Makes `socket` use CURVE when `endpoint` is tcp and keys are configured. Err (nothing bound or connected)
// if a non-loopback tcp endpoint would be used without keys and ZMQ_INSECURE is not set, or the keys for
// `side` are missing while the other side has some.
Result<Unit, std::string> secure(zmq::socket_t& socket, Side side, const std::string& endpoint,
                                 const ZmqSecurity& security);

class ZapHandler;
// Binds a server socket (coordinator, shipper): CURVE and the ZAP handler (kept in `zap`) when keys are set.
Result<Unit, std::string> bind_secured(zmq::socket_t& socket, const std::string& endpoint,
                                       const ZmqSecurity& security, std::shared_ptr<ZapHandler>& zap);
// Connects a client socket (fetcher) with CURVE when keys are set.
Result<Unit, std::string> connect_secured(zmq::socket_t& socket, const std::string& endpoint,
                                          const ZmqSecurity& security);

// The ZAP handler of this process (one per ZeroMQ context): admits CURVE clients whose public key is allowed,
// refuses (and counts: etp2s_protocol_refused_total{reason="unauthenticated"}) every other peer. Servers
// hold it while they listen; it stops with the last holder.
class ZapHandler {
 public:
  explicit ZapHandler(std::set<std::string> allowed);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;
  static std::shared_ptr<ZapHandler> acquire(const std::set<std::string>& allowed);

 private:
  void serve();
  std::set<std::string> allowed_;
  zmq::socket_t sock_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace etp2s
