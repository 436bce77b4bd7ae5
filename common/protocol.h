#pragma once
// The messages between the roles, typed and versioned. Every message that crosses a ZeroMQ socket is one of
// the structs below, with exactly one encoding (protocol.cpp) and one decoding. A frame that does not decode
// — foreign version, unknown kind, malformed or oversized — is refused where it is received: logged, counted
// in etp2s_protocol_rejected_total{reason}, never acted upon.
//
// Wire layout (multipart): [ROUTER identity], "etp2s/2", kind name, header (JSON object), [payload]
//   fetcher → coordinator (DEALER → ROUTER): want_work, heartbeat, done, release, abandon, fatal
//   coordinator → fetcher:                   lease, no_work, lease_lost
//   fetcher → shipper (DEALER → ROUTER):     row_batch (payload: the rows, one JSON object a line)
//   shipper → fetcher:                       accepted, delivery_report
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "common/row.h"
#include "common/timefmt.h"

namespace etp2s {

inline constexpr std::string_view kProtocolVersion = "etp2s/2";
// No frame of ours comes near this; a bigger one is refused by ZeroMQ itself (ZMQ_MAXMSGSIZE).
inline constexpr std::int64_t kMaxFrameBytes = 64LL << 20;
// Fetchers cut a page's rows into batches of at most this payload, well under kMaxFrameBytes.
inline constexpr std::size_t kMaxBatchPayloadBytes = 16u << 20;
inline constexpr int kMaxHeaderDepth = 8;

enum class Kind {
  WantWork,
  Lease,
  NoWork,
  LeaseLost,
  Heartbeat,
  Done,
  Release,
  Abandon,
  Fatal,
  RowBatch,
  Accepted,
  DeliveryReport,
  Yield,  // coordinator → lease holder (on its heartbeat): give the partition back at the next page boundary
};
std::string_view kind_name(Kind k);
std::optional<Kind> kind_from_name(std::string_view name);

// One outcome vocabulary for the whole pipeline (Fluent Bit's OK / RETRY / ERROR).
enum class Outcome {
  Delivered,   // Azure accepted it (or it was set aside in the dead letter list, counted and kept)
  RetryLater,  // nothing wrong with the data; try again later (throttling, outage, lease moved)
  Refused,     // the operator must act (credentials, permissions, configuration); nothing is retried
};
std::string_view outcome_name(Outcome o);

struct WantWork {
  std::string worker;
};

// A lease: the partition as the coordinator hands it out (everything a fetcher needs to read it).
struct LeaseGrant {
  std::string partition;
  long long epoch = 0;
  std::string source;        // which source adapter reads it
  std::string traffic_type;  // the source's scope
  Micros start_us = 0;
  std::optional<Micros> end_us;  // none: open-ended (live)
  std::string cursor;            // committed read position
  std::string sweep_cursor;      // live: where the late-arrival sweep resumes
  Micros caught_up_us = 0;
  std::string domain;  // empty: every domain (see Partition::domain)
  bool live() const { return !end_us.has_value(); }
};

struct NoWork {
  int retry_ms = 250;
};

// heartbeat, done, release, abandon, lease_lost, yield: which lease the message is about.
struct LeaseRef {
  std::string worker;
  std::string partition;
  long long epoch = 0;
};

struct FatalReport {
  std::string worker;
  std::string code;  // common/state.h fatal_code; the receiver keeps only codes it knows
  std::string message;
};

// A page's rows, ready for Sentinel, for one stream (a table).
struct RowBatch {
  std::string batch;
  std::string partition;
  long long epoch = 0;
  std::string stream;
  std::vector<Row> rows;
};

struct Accepted {
  std::string batch;
  std::string shipper;
};

struct DeliveryReport {
  std::string batch;
  std::string shipper;
  Outcome outcome = Outcome::Delivered;    // of the batch as a whole
  std::vector<std::string> delivered;      // row keys Azure accepted
  std::vector<std::string> dead_lettered;  // row keys set aside (Azure can never take them), kept in Redis
  std::string error;                       // Refused / RetryLater: why (redacted text)
};

struct Message {
  Kind kind = Kind::WantWork;
  std::variant<WantWork, LeaseGrant, NoWork, LeaseRef, FatalReport, RowBatch, Accepted, DeliveryReport> body;
};

// Encoded form of one message: the frames after the version (and after a ROUTER identity).
struct Frames {
  std::string kind;
  std::string header;
  std::optional<std::string> payload;
};
Frames encode(const Message& m);
// Err: why the frames are refused (the metric's reason label: "malformed", "kind", ...).
struct Refusal {
  std::string reason;  // version | kind | frames | malformed | oversized
  std::string detail;
};
std::variant<Message, Refusal> decode(std::string_view kind, std::string_view header,
                                      std::optional<std::string_view> payload);

// Typed constructors, so call sites read as what they send.
Message msg(Kind k, LeaseRef r);
Message msg(WantWork w);
Message msg(LeaseGrant g);
Message msg(NoWork n);
Message msg(FatalReport f);
Message msg(RowBatch b);
Message msg(Accepted a);
Message msg(DeliveryReport r);

// The process-wide context (inproc endpoints need one shared context).
zmq::context_t& zmq_context();
// A socket with the protocol's limits: no linger, frames above kMaxFrameBytes refused by ZeroMQ.
zmq::socket_t make_socket(zmq::socket_type type);

struct Received {
  std::string identity;  // ROUTER side only: who sent it
  Message message;
};
// Never blocks: false if no peer can take the message now (the callers' timeouts and resends cover that).
bool send(zmq::socket_t& socket, const Message& m, const std::string& identity = "");
// zmq::poll of one item; a poll interrupted by a signal (EINTR) is a timeout, not an exception.
int poll_one(zmq::pollitem_t& item, std::chrono::milliseconds timeout);
// One message if a valid one arrives within `timeout`. Refused frames are logged, counted and skipped.
std::optional<Received> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout, bool router);

}  // namespace etp2s
