#pragma once
// TLS for Redis without a TLS-capable hiredis (Debian bookworm ships hiredis 0.14, which has none): the
// connection to the server is made and encrypted here with OpenSSL, and hiredis talks plain RESP to the other
// end of a socketpair that a pump thread carries across. Nothing listens on a port, so no other process can
// use the tunnel. The server certificate is verified against the system CA store (or a given bundle) and the
// host name.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <thread>

#include "common/result.h"

namespace etp2s {

struct TlsTarget {
  std::string host;
  int port = 0;
  std::string ca_bundle;  // PEM file; empty: the system's CA store
  int timeout_ms = 5000;  // connect and handshake
};

class TlsPipe {
 public:
  // Connects, handshakes and verifies; on success `local_fd()` is the plain end for hiredis, and the caller
  // owns it (redisConnectFd takes it over; close it if that fails). Err: a message naming the host and why
  // (refused, timeout, certificate problem).
  static Result<std::unique_ptr<TlsPipe>, std::string> open(const TlsTarget& target);
  ~TlsPipe();
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;

  int local_fd() const { return local_fd_; }

 private:
  TlsPipe() = default;
  void pump();
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  int tcp_fd_ = -1;
  int local_fd_ = -1;  // handed to hiredis
  int pump_fd_ = -1;   // our end of the socketpair
  std::thread thread_;
};

}  // namespace etp2s
