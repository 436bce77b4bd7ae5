// The custom-handler HTTP side of `etp2sentinel function-host`: what the Azure Functions host sends, and what
// a broken or hostile client might.
#include "app/function_host.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

using namespace etp2s;

namespace {

FunctionHost::Handler echo() {
  return [](const std::string& function, const std::string& body) -> HandlerReply {
    nlohmann::json reply{{"Outputs", nlohmann::json::object()}, {"Logs", {function}}, {"ReturnValue", body}};
    return {function == "tick" ? 200 : 404, reply.dump()};
  };
}

std::string request(const std::string& method, const std::string& path, const std::string& body) {
  return method + " " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Sends raw bytes over a real loopback connection and returns the whole response.
std::string exchange(int port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + off, std::min<std::size_t>(raw.size() - off, 7), MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace

TEST(FunctionHost, AnInvocationReachesTheHandlerWithItsFunctionNameAndBody) {
  FunctionHost host(0, echo());
  const std::string body =
      R"({"Data":{"timer":{"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"tick"}}})";
  HandlerReply r = host.respond(request("POST", "/tick", body));
  EXPECT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j["Logs"][0], "tick");
  EXPECT_EQ(j["ReturnValue"], body);
  EXPECT_EQ(host.respond(request("POST", "/tick?code=x", "{}")).status, 200);
  EXPECT_EQ(host.respond(request("POST", "/other", "{}")).status, 404);
}

TEST(FunctionHost, MalformedRequestsAreRefusedWithoutReachingTheHandler) {
  int calls = 0;
  FunctionHost host(0, [&](const std::string&, const std::string&) -> HandlerReply {
    ++calls;
    return {200, "{}"};
  });
  EXPECT_EQ(host.respond("POST /tick HTTP/1.1\r\nContent-Length: 2\r\n").status, 400);  // no end of headers
  EXPECT_EQ(host.respond("POST /tick\r\n\r\n").status, 400);                            // no HTTP version
  EXPECT_EQ(host.respond("POST tick HTTP/1.1\r\n\r\n").status, 400);                    // target without '/'
  EXPECT_EQ(host.respond("POST /tick HTTP/1.1\r\nContent-Length: -5\r\n\r\n").status, 400);
  EXPECT_EQ(host.respond("POST /tick HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n").status, 400);
  EXPECT_EQ(host.respond("POST /tick HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}").status, 400);  // short body
  EXPECT_EQ(host.respond(request("GET", "/tick", "")).status, 405);
  EXPECT_EQ(host.respond(std::string("\0\xff\xfe garbage\r\n\r\n", 16)).status, 400);
  EXPECT_EQ(calls, 0);
  // Every refusal is still the JSON shape the Functions host parses.
  auto j = nlohmann::json::parse(host.respond("POST /tick\r\n\r\n").json);
  EXPECT_TRUE(j.contains("Logs"));
}

TEST(FunctionHost, ServesRealConnectionsSentInSmallPiecesAndRefusesHugeOnes) {
  FunctionHost host(0, echo());
  ASSERT_GT(host.bound_port(), 0);
  std::atomic<bool> stop{false};
  std::thread t([&] { host.run(stop); });
  std::string ok = exchange(host.bound_port(), request("POST", "/tick", R"({"Data":{}})"));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  auto body = ok.substr(ok.find("\r\n\r\n") + 4);
  EXPECT_EQ(nlohmann::json::parse(body)["Logs"][0], "tick");

  std::string huge = request("POST", "/tick", std::string(FunctionHost::kMaxRequestBytes + 10, 'x'));
  std::string refused = exchange(host.bound_port(), huge);
  EXPECT_EQ(refused.rfind("HTTP/1.1 413", 0), 0u) << refused.substr(0, 100);

  // The server is still there after both.
  EXPECT_EQ(exchange(host.bound_port(), request("POST", "/tick", "{}")).rfind("HTTP/1.1 200", 0), 0u);
  stop = true;
  t.join();
}

TEST(FunctionHost, APortInUseIsReportedNotFatalToTheProcess) {
  FunctionHost first(0, echo());
  ASSERT_GT(first.bound_port(), 0);
  FunctionHost second(first.bound_port(), echo());
  EXPECT_LT(second.bound_port(), 0);
}
