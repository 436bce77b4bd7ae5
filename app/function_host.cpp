#include "app/function_host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <string_view>

#include "common/log.h"

namespace etp2s {

namespace {

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

HandlerReply error_reply(int status, const std::string& message) {
  return {status, std::string(R"({"Outputs":{},"Logs":[")") + message + R"("],"ReturnValue":null})"};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Content-Length of a header block, -1 when absent, -2 when malformed.
long long content_length(std::string_view headers) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find("\r\n", pos);
    if (end == std::string_view::npos) end = headers.size();
    std::string_view line = headers.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || lower(line.substr(0, colon)) != "content-length") continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    if (v.empty() || v.size() > 12) return -2;
    long long n = 0;
    for (char ch : v) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) return -2;
      n = n * 10 + (ch - '0');
    }
    return n;
  }
  return -1;
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

FunctionHost::FunctionHost(int port, Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return;
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    log::error("function_host.cannot_listen", {{"port", port}, {"error", std::strerror(errno)}});
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  log::info("function_host.listening", {{"address", "127.0.0.1:" + std::to_string(port_)}});
}

FunctionHost::~FunctionHost() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

HandlerReply FunctionHost::respond(const std::string& raw) const {
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return error_reply(400, "incomplete request");
  auto line_end = raw.find("\r\n");
  std::string_view line(raw.data(), line_end);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
    return error_reply(400, "malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty() || target.front() != '/') return error_reply(400, "malformed request target");
  std::string_view path = target.substr(1);
  std::string function(path.substr(0, path.find('?')));
  if (method != "POST") return error_reply(405, "only POST invocations are served");
  long long len = content_length(std::string_view(raw).substr(line_end + 2, head_end - line_end - 2));
  if (len == -2) return error_reply(400, "malformed Content-Length");
  std::size_t body_len = len < 0 ? 0 : static_cast<std::size_t>(len);
  if (raw.size() - (head_end + 4) < body_len) return error_reply(400, "body shorter than Content-Length");
  return handler_(function, raw.substr(head_end + 4, body_len));
}

void FunctionHost::serve_connection(int fd) const {
  std::string raw;
  char buf[8192];
  HandlerReply reply;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return;  // a silent client is dropped after 10 s
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    raw.append(buf, static_cast<std::size_t>(n));
    if (raw.size() > kMaxRequestBytes) {
      reply = error_reply(413, "request larger than 1 MiB");
      break;
    }
    auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    long long len = content_length(std::string_view(raw).substr(0, head_end));
    if (len >= 0 && raw.size() < head_end + 4 + static_cast<std::size_t>(len)) continue;
    reply = respond(raw);
    break;
  }
  std::string out =
      "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(reply.json.size()) +
      "\r\nConnection: close\r\n\r\n" + reply.json;
  send_all(fd, out);
  // Read what the client may still be sending (a refused oversized body) so that closing does not reset the
  // connection before it has read the reply. Bounded: at most ~1 s or 800 KiB.
  ::shutdown(fd, SHUT_WR);
  for (int i = 0; i < 100; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0 || ::recv(fd, buf, sizeof buf, 0) <= 0) break;
  }
}

void FunctionHost::run(const std::atomic<bool>& stop) {
  while (!stop && listen_fd_ >= 0) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 250) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_connection(fd);
    ::close(fd);
  }
}

}  // namespace etp2s
