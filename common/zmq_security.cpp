#include "common/zmq_security.h"

#include <mutex>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "common/protocol.h"

namespace etp2s {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by RFC 27 (ZAP)
constexpr std::size_t kZ85KeyLength = 40;

// tcp://host:port with host a loopback address (127.0.0.0/8, ::1, localhost).
bool loopback_tcp(const std::string& endpoint) {
  const std::string prefix = "tcp://";
  if (endpoint.rfind(prefix, 0) != 0) return false;
  std::string host = endpoint.substr(prefix.size());
  if (!host.empty() && host.front() == '[') {
    return host.rfind("[::1]:", 0) == 0;
  }
  host = host.substr(0, host.rfind(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace

bool is_z85_key(const std::string& key) {
  if (key.size() != kZ85KeyLength) return false;
  std::uint8_t raw[32];
  return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

KeyPair generate_keypair() {
  char pub[kZ85KeyLength + 1] = {}, sec[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) throw std::runtime_error("libzmq has no CURVE support");
  return {pub, Secret(sec)};
}

Result<std::string, std::string> public_key_of(const std::string& secret_z85) {
  if (!is_z85_key(secret_z85)) return err(std::string("is not a CURVE key (40 characters of Z85)"));
  char pub[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(pub, secret_z85.c_str()) != 0) return err(std::string("is not a CURVE secret key"));
  return std::string(pub);
}

Result<Unit, std::string> secure(zmq::socket_t& socket, Side side, const std::string& endpoint,
                                 const ZmqSecurity& s) {
  if (endpoint.rfind("tcp://", 0) != 0) return Unit{};  // inproc, ipc: inside this machine's trust boundary
  bool keys = side == Side::Server ? s.server_keys() : s.client_keys();
  if (!keys) {
    if (loopback_tcp(endpoint) || s.insecure) {
      if (!loopback_tcp(endpoint))
        log::warn("zmq.insecure", {{"endpoint", endpoint},
                                   {"message",
                                    "ZMQ_INSECURE=1: messages between roles travel unauthenticated "
                                    "and in clear text; anyone who reaches this port can steer "
                                    "the pipeline (docs/security.md)"}});
      return Unit{};
    }
    return err(
        endpoint + " is reachable beyond this machine but no CURVE keys are configured (" +
        (side == Side::Server ? "ZMQ_SERVER_SECRET_KEY" : "ZMQ_CLIENT_SECRET_KEY and ZMQ_SERVER_PUBLIC_KEY") +
        "); generate them with `etp2sentinel keygen`, or set ZMQ_INSECURE=1 to accept the risk");
  }
  if (side == Side::Server) {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, s.server_secret.reveal());
    socket.set(zmq::sockopt::zap_domain, std::string("etp2sentinel"));
  } else {
    socket.set(zmq::sockopt::curve_serverkey, s.server_public);
    socket.set(zmq::sockopt::curve_publickey, s.client_public);
    socket.set(zmq::sockopt::curve_secretkey, s.client_secret.reveal());
  }
  return Unit{};
}

Result<Unit, std::string> bind_secured(zmq::socket_t& socket, const std::string& endpoint,
                                       const ZmqSecurity& s, std::shared_ptr<ZapHandler>& zap) {
  auto ok = secure(socket, Side::Server, endpoint, s);
  if (!ok) return ok;
  if (endpoint.rfind("tcp://", 0) == 0 && s.server_keys()) zap = ZapHandler::acquire(s.allowed_clients);
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return err("cannot bind " + endpoint + ": " + e.what());
  }
  return Unit{};
}

Result<Unit, std::string> connect_secured(zmq::socket_t& socket, const std::string& endpoint,
                                          const ZmqSecurity& s) {
  auto ok = secure(socket, Side::Client, endpoint, s);
  if (!ok) return ok;
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return err("cannot connect to " + endpoint + ": " + e.what());
  }
  return Unit{};
}

ZapHandler::ZapHandler(std::set<std::string> allowed)
    : allowed_(std::move(allowed)), sock_(zmq_context(), zmq::socket_type::rep) {
  sock_.set(zmq::sockopt::linger, 0);
  sock_.bind(kZapEndpoint);
  thread_ = std::thread([this] { serve(); });  // from here on only that thread uses sock_
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<ZapHandler> ZapHandler::acquire(const std::set<std::string>& allowed) {
  static std::mutex mu;
  static std::weak_ptr<ZapHandler> current;
  std::lock_guard lock(mu);
  if (auto h = current.lock()) return h;
  auto h = std::make_shared<ZapHandler>(allowed);
  current = h;
  return h;
}

void ZapHandler::serve() {
  zmq::socket_t& s = sock_;
  while (!stop_) {
    zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
    if (poll_one(item, std::chrono::milliseconds(100)) <= 0) continue;
    std::vector<zmq::message_t> frames;
    for (bool more = true; more;) {
      zmq::message_t part;
      if (!s.recv(part, zmq::recv_flags::none)) break;
      more = part.more();
      frames.push_back(std::move(part));
    }
    // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
    bool ok = false;
    std::string address, client;
    if (frames.size() >= 7 && frames[0].to_string_view() == "1.0" && frames[5].to_string_view() == "CURVE" &&
        frames[6].size() == 32) {
      char z85[kZ85KeyLength + 1] = {};
      zmq_z85_encode(z85, static_cast<const std::uint8_t*>(frames[6].data()), 32);
      client = z85;
      ok = allowed_.count(client) > 0;
    }
    if (frames.size() >= 4) address = frames[3].to_string();
    if (!ok) {
      log::warn("zmq.peer_refused", {{"address", address}, {"client_key", client.substr(0, 8)}});
      Metrics::get().protocol_refused("unauthenticated").Increment();
    }
    std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
    s.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
    s.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    s.send(zmq::buffer(std::string(ok ? "200" : "400")), zmq::send_flags::sndmore);
    s.send(zmq::buffer(std::string(ok ? "OK" : "unknown client key")), zmq::send_flags::sndmore);
    s.send(zmq::buffer(client), zmq::send_flags::sndmore);  // user id
    s.send(zmq::buffer(std::string()), zmq::send_flags::none);
  }
}

}  // namespace etp2s
