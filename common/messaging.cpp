#include "common/messaging.h"

#include "common/log.h"

namespace etp2s {

zmq::context_t& zmq_context() {
  static zmq::context_t ctx(1);
  return ctx;
}

bool send_message(zmq::socket_t& socket, const std::string& type, const nlohmann::json& body,
                  const std::string& identity) {
  const auto first = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
  if (!identity.empty()) {
    if (!socket.send(zmq::buffer(identity), first)) return false;
    socket.send(zmq::buffer(std::string(kProtocolVersion)), zmq::send_flags::sndmore);
  } else if (!socket.send(zmq::buffer(std::string(kProtocolVersion)), first)) {
    return false;
  }
  socket.send(zmq::buffer(type), zmq::send_flags::sndmore);
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  socket.send(zmq::buffer(text), zmq::send_flags::none);
  return true;
}

std::optional<Message> receive_message(zmq::socket_t& socket, std::chrono::milliseconds timeout,
                                       bool router) {
  zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) <= 0 || !(item.revents & ZMQ_POLLIN)) return std::nullopt;
  std::vector<std::string> frames;
  for (;;) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::none)) return std::nullopt;
    frames.push_back(part.to_string());
    if (!part.more()) break;
  }
  std::size_t base = router ? 1 : 0;
  if (frames.size() != base + 3 || frames[base] != kProtocolVersion) {
    log::warn("message.malformed", {{"frames", frames.size()}});
    return std::nullopt;
  }
  Message m;
  if (router) m.identity = frames[0];
  m.type = frames[base + 1];
  m.body = nlohmann::json::parse(frames[base + 2], nullptr, false);
  if (m.body.is_discarded()) {
    log::warn("message.bad_json", {{"type", m.type}});
    return std::nullopt;
  }
  return m;
}

}  // namespace etp2s
