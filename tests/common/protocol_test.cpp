// The typed protocol: every message round-trips; malformed, truncated, oversized and foreign-version frames
// are refused (and counted) without crashing the receiver, which keeps serving.
#include "common/protocol.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/metrics.h"

using namespace etp2s;

namespace {

Message round_trip(const Message& m) {
  Frames f = encode(m);
  std::optional<std::string_view> payload;
  if (f.payload) payload = *f.payload;
  auto d = decode(f.kind, f.header, payload);
  EXPECT_TRUE(std::holds_alternative<Message>(d))
      << std::get<Refusal>(d).reason << ": " << std::get<Refusal>(d).detail;
  return std::get<Message>(d);
}

Refusal refused(std::string_view kind, std::string_view header,
                std::optional<std::string_view> payload = {}) {
  auto d = decode(kind, header, payload);
  EXPECT_TRUE(std::holds_alternative<Refusal>(d)) << kind << " " << header;
  return std::holds_alternative<Refusal>(d) ? std::get<Refusal>(d) : Refusal{};
}

double refused_count(const std::string& reason) {
  return Metrics::get().protocol_refused(reason).Value();
}

}  // namespace

TEST(Protocol, EveryMessageRoundTrips) {
  auto lease = std::get<LeaseGrant>(round_trip(msg(LeaseGrant{"inbound-03", 7, "alerts-v1", "inbound", 1000,
                                                              2000, "c", "s", 5, "contoso.test"}))
                                        .body);
  EXPECT_EQ(lease.partition, "inbound-03");
  EXPECT_EQ(lease.domain, "contoso.test");
  EXPECT_EQ(lease.epoch, 7);
  EXPECT_EQ(lease.source, "alerts-v1");
  EXPECT_EQ(lease.end_us, 2000);
  EXPECT_EQ(lease.cursor, "c");
  EXPECT_EQ(lease.sweep_cursor, "s");
  EXPECT_EQ(lease.caught_up_us, 5);
  auto live = std::get<LeaseGrant>(
      round_trip(msg(LeaseGrant{"p", 1, "s", "t", 0, std::nullopt, "", "", 0, ""})).body);
  EXPECT_FALSE(live.end_us.has_value());
  EXPECT_EQ(live.domain, "");

  EXPECT_EQ(std::get<WantWork>(round_trip(msg(WantWork{"w1"})).body).worker, "w1");
  EXPECT_EQ(std::get<NoWork>(round_trip(msg(NoWork{300})).body).retry_ms, 300);
  for (Kind k : {Kind::Heartbeat, Kind::Done, Kind::Release, Kind::Abandon, Kind::LeaseLost, Kind::Yield}) {
    Message m = round_trip(msg(k, LeaseRef{"w", "p", 9}));
    EXPECT_EQ(m.kind, k);
    EXPECT_EQ(std::get<LeaseRef>(m.body).epoch, 9);
  }
  auto fatal = std::get<FatalReport>(round_trip(msg(FatalReport{"w", "etp_auth", "bad key"})).body);
  EXPECT_EQ(fatal.message, "bad key");
  EXPECT_EQ(fatal.code, "etp_auth");
  EXPECT_EQ(std::get<Accepted>(round_trip(msg(Accepted{"b1", "s1"})).body).shipper, "s1");

  DeliveryReport r{"b1", "s1", Outcome::Refused, {"k1", "k2"}, {"k3"}, "HTTP 403"};
  auto r2 = std::get<DeliveryReport>(round_trip(msg(r)).body);
  EXPECT_EQ(r2.outcome, Outcome::Refused);
  EXPECT_EQ(r2.delivered, r.delivered);
  EXPECT_EQ(r2.dead_lettered, r.dead_lettered);
  EXPECT_EQ(r2.error, "HTTP 403");

  RowBatch b{"b1",
             "inbound-00",
             3,
             "FireEyeETPAlerts_CL",
             {{"k1", 11, R"({"a":"x\ny","u":"\u2603 ☃"})", {}}, {"k2", 12, "{}", {}}}};
  auto b2 = std::get<RowBatch>(round_trip(msg(b)).body);
  ASSERT_EQ(b2.rows.size(), 2u);
  EXPECT_EQ(b2.rows[0].key, "k1");
  EXPECT_EQ(b2.rows[0].time_us, 11);
  EXPECT_EQ(b2.rows[0].json, b.rows[0].json);
  EXPECT_EQ(b2.rows[1].json, "{}");
  EXPECT_EQ(b2.stream, "FireEyeETPAlerts_CL");
}

TEST(Protocol, MalformedTruncatedAndForeignFramesAreRefusedWithAReason) {
  EXPECT_EQ(refused("lease_grant_v9", "{}").reason, "kind");
  EXPECT_EQ(refused("lease", "[]").reason, "malformed");
  EXPECT_EQ(refused("lease", R"({"partition":"p"})").reason, "malformed");  // truncated: fields missing
  EXPECT_EQ(refused("lease", R"({"partition":1,"epoch":"x"})").reason, "malformed");
  EXPECT_EQ(refused("heartbeat", R"({"worker":"w","partition":"p","epoch":1.5})").reason, "malformed");
  EXPECT_EQ(refused("heartbeat", R"({"worker":"w","partition":"p")").reason, "malformed");  // cut JSON
  EXPECT_EQ(
      refused("delivery_report",
              R"({"batch":"b","shipper":"s","outcome":"maybe","delivered":[],"dead_lettered":[],"error":""})")
          .reason,
      "malformed");
  EXPECT_EQ(
      refused(
          "delivery_report",
          R"({"batch":"b","shipper":"s","outcome":"delivered","delivered":[1],"dead_lettered":[],"error":""})")
          .reason,
      "malformed");
  std::string deep(100000, '[');
  EXPECT_EQ(refused("want_work", deep).reason, "malformed");
  // A row batch whose rows and keys disagree, or whose rows are not objects, is refused whole.
  std::string h = R"({"batch":"b","partition":"p","epoch":1,"stream":"S","keys":["a","b"],"times":[1,2]})";
  EXPECT_EQ(refused("row_batch", h, std::string_view("{}\n")).reason, "malformed");
  EXPECT_EQ(refused("row_batch", h, std::string_view("{}\nnot json\n")).reason, "malformed");
  EXPECT_EQ(refused("row_batch", h).reason, "malformed");
  EXPECT_EQ(refused("want_work", R"({"worker":"w"})", std::string_view("x")).reason, "frames");
}

// Real sockets: a ROUTER fed garbage (wrong frame counts, foreign versions, oversized frames, bad JSON) keeps
// receiving, counts each refusal, and still gets the valid message that follows.
TEST(Protocol, AReceiverFedGarbageCountsItAndKeepsWorking) {
  zmq::socket_t router = make_socket(zmq::socket_type::router);
  router.bind("tcp://127.0.0.1:*");
  std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  zmq::socket_t dealer(zmq_context(), zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);

  double version0 = refused_count("version"), frames0 = refused_count("frames"),
         malformed0 = refused_count("malformed"), kind0 = refused_count("kind");
  auto raw = [&](std::vector<std::string> parts) {
    for (std::size_t i = 0; i < parts.size(); ++i)
      dealer.send(zmq::buffer(parts[i]),
                  i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  };
  raw({"etp2s/1", "want_work", R"({"worker":"old"})"});  // the previous protocol version
  raw({"hello"});
  raw({"etp2s/2", "want_work"});
  raw({"etp2s/2", "want_work", "[]"});
  raw({"etp2s/2", "nonsense", "{}"});
  raw({"etp2s/2", "want_work", "{}", "x", "y", "z", "w", "v"});
  // Oversized: ZeroMQ drops the connection of a peer that sends more than kMaxFrameBytes; a new peer works.
  std::string huge(static_cast<std::size_t>(kMaxFrameBytes) + 1, 'x');
  raw({"etp2s/2", "want_work", huge});

  int got = 0;
  for (int i = 0; i < 40 && got == 0; ++i) {
    if (auto r = receive(router, std::chrono::milliseconds(50), true)) {
      ADD_FAILURE() << "garbage was accepted as " << kind_name(r->message.kind);
      ++got;
    }
  }
  EXPECT_EQ(refused_count("version") - version0, 1);
  EXPECT_EQ(refused_count("frames") - frames0, 3);
  EXPECT_EQ(refused_count("malformed") - malformed0, 1);
  EXPECT_EQ(refused_count("kind") - kind0, 1);

  zmq::socket_t good = make_socket(zmq::socket_type::dealer);
  good.connect(endpoint);
  ASSERT_TRUE(send(good, msg(WantWork{"w-good"})));
  std::optional<Received> r;
  for (int i = 0; i < 100 && !r; ++i) r = receive(router, std::chrono::milliseconds(50), true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::get<WantWork>(r->message.body).worker, "w-good");
}
