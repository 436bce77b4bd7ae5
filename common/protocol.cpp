#include "common/protocol.h"

#include <cerrno>

#include <array>

#include <nlohmann/json.hpp>

#include "common/json_guard.h"
#include "common/log.h"
#include "common/metrics.h"

namespace etp2s {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<Kind, std::string_view>, 13> kKinds{{
    {Kind::WantWork, "want_work"},
    {Kind::Lease, "lease"},
    {Kind::NoWork, "no_work"},
    {Kind::LeaseLost, "lease_lost"},
    {Kind::Heartbeat, "heartbeat"},
    {Kind::Done, "done"},
    {Kind::Release, "release"},
    {Kind::Abandon, "abandon"},
    {Kind::Fatal, "fatal"},
    {Kind::RowBatch, "row_batch"},
    {Kind::Accepted, "accepted"},
    {Kind::DeliveryReport, "delivery_report"},
    {Kind::Yield, "yield"},
}};

constexpr std::array<std::string_view, 3> kOutcomes{"delivered", "retry_later", "refused"};

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Type-checked reads: a field of the wrong type makes the whole message malformed.
struct Reader {
  const json& j;
  bool ok = true;
  std::string bad;
  std::string str(const char* k) {
    if (j.contains(k) && j[k].is_string()) return j[k].get<std::string>();
    fail(k);
    return {};
  }
  long long integer(const char* k) {
    if (j.contains(k) && j[k].is_number_integer()) return j[k].get<long long>();
    fail(k);
    return 0;
  }
  bool boolean(const char* k) {
    if (j.contains(k) && j[k].is_boolean()) return j[k].get<bool>();
    fail(k);
    return false;
  }
  std::optional<long long> optional_integer(const char* k) {
    if (!j.contains(k) || j[k].is_null()) return std::nullopt;
    return integer(k);
  }
  std::vector<std::string> strings(const char* k) {
    std::vector<std::string> out;
    if (!j.contains(k) || !j[k].is_array()) {
      fail(k);
      return out;
    }
    for (const auto& v : j[k]) {
      if (!v.is_string()) {
        fail(k);
        return {};
      }
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  void fail(const char* k) {
    if (ok) bad = k;
    ok = false;
  }
};

json header_of(const LeaseGrant& g) {
  json j = {{"partition", g.partition},
            {"epoch", g.epoch},
            {"source", g.source},
            {"traffic_type", g.traffic_type},
            {"domain", g.domain},
            {"start_us", g.start_us},
            {"cursor", g.cursor},
            {"sweep_cursor", g.sweep_cursor},
            {"caught_up_us", g.caught_up_us}};
  j["end_us"] = g.end_us ? json(*g.end_us) : json(nullptr);
  return j;
}

// Row batch: the header carries keys and times, the payload the rows, one JSON object a line.
std::string payload_of(const RowBatch& b) {
  std::size_t n = 0;
  for (const auto& r : b.rows) n += r.json.size() + 1;
  std::string p;
  p.reserve(n);
  for (const auto& r : b.rows) {
    p += r.json;
    p.push_back('\n');
  }
  return p;
}

json header_of(const RowBatch& b) {
  json keys = json::array(), times = json::array();
  for (const auto& r : b.rows) {
    keys.push_back(r.key);
    times.push_back(r.time_us);
  }
  return {{"batch", b.batch}, {"partition", b.partition},
          {"epoch", b.epoch}, {"stream", b.stream},
          {"keys", keys},     {"times", times}};
}

struct HeaderEncoder {
  json operator()(const WantWork& w) const { return {{"worker", w.worker}}; }
  json operator()(const LeaseGrant& g) const { return header_of(g); }
  json operator()(const NoWork& n) const { return {{"retry_ms", n.retry_ms}}; }
  json operator()(const LeaseRef& r) const {
    return {{"worker", r.worker}, {"partition", r.partition}, {"epoch", r.epoch}};
  }
  json operator()(const FatalReport& f) const {
    return {{"worker", f.worker}, {"code", f.code}, {"message", f.message}};
  }
  json operator()(const RowBatch& b) const { return header_of(b); }
  json operator()(const Accepted& a) const { return {{"batch", a.batch}, {"shipper", a.shipper}}; }
  json operator()(const DeliveryReport& r) const {
    return {{"batch", r.batch},
            {"shipper", r.shipper},
            {"outcome", outcome_name(r.outcome)},
            {"delivered", r.delivered},
            {"dead_lettered", r.dead_lettered},
            {"error", r.error}};
  }
};

std::optional<Outcome> outcome_from(std::string_view s) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    if (kOutcomes[i] == s) return static_cast<Outcome>(i);
  }
  return std::nullopt;
}

LeaseGrant decode_lease(Reader& r) {
  LeaseGrant g;
  g.partition = r.str("partition");
  g.epoch = r.integer("epoch");
  g.source = r.str("source");
  g.traffic_type = r.str("traffic_type");
  if (r.j.contains("domain")) g.domain = r.str("domain");  // absent from peers before 0.5: every domain
  g.start_us = r.integer("start_us");
  g.end_us = r.optional_integer("end_us");
  g.cursor = r.str("cursor");
  g.sweep_cursor = r.str("sweep_cursor");
  g.caught_up_us = r.integer("caught_up_us");
  return g;
}

std::vector<std::string_view> lines_of(std::string_view payload) {
  std::vector<std::string_view> out;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    if (payload[i] != '\n') continue;
    out.push_back(payload.substr(begin, i - begin));
    begin = i + 1;
  }
  if (begin < payload.size()) out.push_back(payload.substr(begin));
  return out;
}

std::variant<RowBatch, std::string> decode_batch(Reader& r, std::optional<std::string_view> payload) {
  RowBatch b;
  b.batch = r.str("batch");
  b.partition = r.str("partition");
  b.epoch = r.integer("epoch");
  b.stream = r.str("stream");
  auto keys = r.strings("keys");
  if (!r.ok) return "field " + r.bad;
  if (!r.j["times"].is_array() || r.j["times"].size() != keys.size()) return std::string("times");
  if (!payload) return std::string("no payload");
  auto lines = lines_of(*payload);
  if (lines.size() != keys.size()) return std::string("row count differs from key count");
  b.rows.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& t = r.j["times"][i];
    std::string_view line = lines[i];
    if (!t.is_number_integer() || line.size() < 2 || line.front() != '{' || line.back() != '}')
      return "row " + std::to_string(i);
    b.rows.push_back(Row{std::move(keys[i]), t.get<Micros>(), std::string(line), {}});
  }
  return b;
}

DeliveryReport decode_report(Reader& r) {
  DeliveryReport d;
  d.batch = r.str("batch");
  d.shipper = r.str("shipper");
  auto o = outcome_from(r.str("outcome"));
  if (!o) r.fail("outcome");
  d.outcome = o.value_or(Outcome::Refused);
  d.delivered = r.strings("delivered");
  d.dead_lettered = r.strings("dead_lettered");
  d.error = r.str("error");
  return d;
}

std::variant<Message, Refusal> decode_body(Kind kind, const json& h,
                                           std::optional<std::string_view> payload) {
  Reader r{h, true, {}};
  Message m;
  m.kind = kind;
  switch (kind) {
    case Kind::WantWork:
      m.body = WantWork{r.str("worker")};
      break;
    case Kind::Lease:
      m.body = decode_lease(r);
      break;
    case Kind::NoWork:
      m.body = NoWork{static_cast<int>(std::clamp(r.integer("retry_ms"), 0LL, 60'000LL))};
      break;
    case Kind::LeaseLost:
    case Kind::Yield:
    case Kind::Heartbeat:
    case Kind::Done:
    case Kind::Release:
    case Kind::Abandon:
      m.body = LeaseRef{r.str("worker"), r.str("partition"), r.integer("epoch")};
      break;
    case Kind::Fatal:
      m.body =
          FatalReport{r.str("worker"), r.j.contains("code") ? r.str("code") : "unknown", r.str("message")};
      break;
    case Kind::RowBatch: {
      auto b = decode_batch(r, payload);
      if (auto* why = std::get_if<std::string>(&b)) return Refusal{"malformed", "row_batch: " + *why};
      m.body = std::move(std::get<RowBatch>(b));
      break;
    }
    case Kind::Accepted:
      m.body = Accepted{r.str("batch"), r.str("shipper")};
      break;
    case Kind::DeliveryReport:
      m.body = decode_report(r);
      break;
  }
  if (!r.ok) return Refusal{"malformed", std::string(kind_name(kind)) + ": field " + r.bad};
  if (kind != Kind::RowBatch && payload) return Refusal{"frames", "unexpected payload"};
  return m;
}

}  // namespace

std::string_view kind_name(Kind k) {
  for (const auto& [kind, name] : kKinds) {
    if (kind == k) return name;
  }
  return "?";
}

std::optional<Kind> kind_from_name(std::string_view name) {
  for (const auto& [kind, n] : kKinds) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

std::string_view outcome_name(Outcome o) {
  return kOutcomes[static_cast<std::size_t>(o)];
}

Frames encode(const Message& m) {
  Frames f;
  f.kind = std::string(kind_name(m.kind));
  f.header = dump(std::visit(HeaderEncoder{}, m.body));
  if (const auto* b = std::get_if<RowBatch>(&m.body)) f.payload = payload_of(*b);
  return f;
}

std::variant<Message, Refusal> decode(std::string_view kind, std::string_view header,
                                      std::optional<std::string_view> payload) {
  auto k = kind_from_name(kind);
  if (!k) return Refusal{"kind", std::string(kind.substr(0, 40))};
  if (header.size() > kMaxFrameBytes || !json_depth_within(header, kMaxHeaderDepth))
    return Refusal{"malformed", "header too deep or too large"};
  json h = json::parse(header, nullptr, false);
  if (h.is_discarded() || !h.is_object())
    return Refusal{"malformed", std::string(kind) + ": not a JSON object"};
  return decode_body(*k, h, payload);
}

Message msg(Kind k, LeaseRef r) {
  return {k, std::move(r)};
}
Message msg(WantWork w) {
  return {Kind::WantWork, std::move(w)};
}
Message msg(LeaseGrant g) {
  return {Kind::Lease, std::move(g)};
}
Message msg(NoWork n) {
  return {Kind::NoWork, n};
}
Message msg(FatalReport f) {
  return {Kind::Fatal, std::move(f)};
}
Message msg(RowBatch b) {
  return {Kind::RowBatch, std::move(b)};
}
Message msg(Accepted a) {
  return {Kind::Accepted, std::move(a)};
}
Message msg(DeliveryReport r) {
  return {Kind::DeliveryReport, std::move(r)};
}

zmq::context_t& zmq_context() {
  static zmq::context_t ctx(1);
  return ctx;
}

zmq::socket_t make_socket(zmq::socket_type type) {
  zmq::socket_t s(zmq_context(), type);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  return s;
}

bool send(zmq::socket_t& socket, const Message& m, const std::string& identity) {
  Frames f = encode(m);
  const auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
  if (!identity.empty() && !socket.send(zmq::buffer(identity), more)) return false;
  if (!socket.send(zmq::buffer(kProtocolVersion.data(), kProtocolVersion.size()), more)) return false;
  socket.send(zmq::buffer(f.kind), zmq::send_flags::sndmore);
  if (!f.payload) {
    socket.send(zmq::buffer(f.header), zmq::send_flags::none);
    return true;
  }
  socket.send(zmq::buffer(f.header), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(*f.payload), zmq::send_flags::none);
  return true;
}

namespace {

// Frames are copied out of libzmq's buffers once, here (message_t::to_string), and decoded from our copies.
bool read_frames(zmq::socket_t& socket, std::vector<std::string>& frames) {
  for (;;) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) return false;
    bool more = part.more();
    if (frames.size() < 6) frames.push_back(part.to_string());  // more frames than any message has: drained
    if (!more) return true;
  }
}

void refuse(const Refusal& r) {
  log::warn("protocol.refused", {{"reason", r.reason}, {"detail", r.detail}});
  Metrics::get().protocol_refused(r.reason).Increment();
}

}  // namespace

int poll_one(zmq::pollitem_t& item, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(&item, 1, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR)
      return 0;  // a signal (SIGTERM) reached this thread: the caller checks its stop flag
    throw;
  }
}

std::optional<Received> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout, bool router) {
  zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
  if (poll_one(item, timeout) <= 0 || !(item.revents & ZMQ_POLLIN)) return std::nullopt;
  std::vector<std::string> frames;
  if (!read_frames(socket, frames)) return std::nullopt;
  std::size_t base = router ? 1 : 0;
  if (frames.size() < base + 3 || frames.size() > base + 4) {
    refuse({"frames", std::to_string(frames.size()) + " frames"});
    return std::nullopt;
  }
  if (frames[base] != kProtocolVersion) {
    refuse({"version", frames[base].substr(0, 40)});
    return std::nullopt;
  }
  std::optional<std::string_view> payload;
  if (frames.size() == base + 4) payload = frames[base + 3];
  auto d = decode(frames[base + 1], frames[base + 2], payload);
  if (auto* r = std::get_if<Refusal>(&d)) {
    refuse(*r);
    return std::nullopt;
  }
  Received out;
  if (router) out.identity = frames[0];
  out.message = std::move(std::get<Message>(d));
  return out;
}

}  // namespace etp2s
