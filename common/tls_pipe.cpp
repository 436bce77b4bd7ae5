#include "common/tls_pipe.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace etp2s {

namespace {

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return std::strerror(errno);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// A TCP connection within timeout_ms, left in blocking mode with I/O timeouts for the handshake.
Result<int, std::string> connect_tcp(const TlsTarget& t) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(t.port);
  if (int rc = ::getaddrinfo(t.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return err(std::string("cannot resolve: ") + ::gai_strerror(rc));
  }
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, t.timeout_ms) == 1 ? 0 : -1;
      int so = ETIMEDOUT;
      socklen_t len = sizeof so;
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
      if (rc != 0 || so != 0) {
        errno = so;
        rc = -1;
      }
    }
    if (rc == 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      timeval tv{t.timeout_ms / 1000, (t.timeout_ms % 1000) * 1000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      ::freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return err(last);
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<TlsPipe>, std::string> TlsPipe::open(const TlsTarget& t) {
  // OpenSSL writes with write(2) and hiredis writes to our socketpair: a peer that went away (Redis
  // restarted) must be an EPIPE error that reconnects, not a SIGPIPE that kills the process.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  const std::string where = "redis TLS " + t.host + ":" + std::to_string(t.port) + ": ";
  std::unique_ptr<TlsPipe> p(new TlsPipe());
  p->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!p->ctx_) return err(where + ssl_error_text());
  SSL_CTX* ctx = p->ctx_.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Without this, SSL_read on the blocking socket would swallow a TLS 1.3 session ticket and then wait for
  // application data that only comes after the pump forwards hiredis' next command: a deadlock.
  SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
  int loaded = t.ca_bundle.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                   : SSL_CTX_load_verify_locations(ctx, t.ca_bundle.c_str(), nullptr);
  if (loaded != 1) return err(where + "cannot load CA certificates (" + ssl_error_text() + ")");

  auto fd = connect_tcp(t);
  if (!fd) return err(where + "cannot connect (" + fd.error() + ")");
  p->tcp_fd_ = fd.value();
  p->ssl_.reset(SSL_new(ctx));
  SSL* ssl = p->ssl_.get();
  SSL_set_fd(ssl, p->tcp_fd_);
  SSL_set_tlsext_host_name(ssl, t.host.c_str());
  // Verify the certificate names this host (DNS name or IP address).
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str()) != 1) SSL_set1_host(ssl, t.host.c_str());
  if (SSL_connect(ssl) != 1) {
    long v = SSL_get_verify_result(ssl);
    std::string why = v != X509_V_OK
                          ? std::string("certificate rejected: ") + X509_verify_cert_error_string(v)
                          : "handshake failed: " + ssl_error_text();
    return err(where + why);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return err(where + "socketpair: " + std::strerror(errno));
  }
  p->local_fd_ = pair[0];
  p->pump_fd_ = pair[1];
  // The handshake is done: the pump blocks in poll, not in socket timeouts.
  timeval none{0, 0};
  ::setsockopt(p->tcp_fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  p->thread_ = std::thread([raw = p.get()] { raw->pump(); });
  return p;
}

// Carries bytes both ways until either side closes. hiredis closing its end (redisFree) ends the tunnel;
// the server closing ends it too, and hiredis then sees a lost connection and reconnects.
void TlsPipe::pump() {
  SSL* ssl = ssl_.get();
  char buf[16384];
  for (;;) {
    if (SSL_pending(ssl) == 0) {
      pollfd p[2] = {{pump_fd_, POLLIN, 0}, {tcp_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(pump_fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (SSL_write(ssl, buf, static_cast<int>(n)) <= 0) break;
      }
      if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      int e = SSL_get_error(ssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
      break;
    }
    if (!write_all(pump_fd_, buf, static_cast<std::size_t>(n))) break;
  }
  ::shutdown(pump_fd_, SHUT_RDWR);
}

TlsPipe::~TlsPipe() {
  // Wake the pump whichever way it waits, then release everything it used.
  if (pump_fd_ >= 0) ::shutdown(pump_fd_, SHUT_RDWR);
  if (tcp_fd_ >= 0) ::shutdown(tcp_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ssl_.reset();
  if (pump_fd_ >= 0) ::close(pump_fd_);
  if (tcp_fd_ >= 0) ::close(tcp_fd_);
  // local_fd_ belongs to hiredis once handed over; redisFree closes it.
}

}  // namespace etp2s
