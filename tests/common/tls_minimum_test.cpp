// TLS 1.2 is the minimum on every connection the connector makes (libcurl handles: ETP, Entra ID, Azure
// ingestion; the Redis TLS tunnel), set explicitly rather than left to the system's OpenSSL configuration.
// To prove that, this binary runs under a permissive OpenSSL configuration (tls_legacy_openssl.cnf: TLS 1.0
// and security level 0 allowed) and each test first shows that a client with the library's defaults does
// complete a TLS 1.1 handshake with the test server — so only the connector's own setting can refuse it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/http.h"
#include "common/tls_pipe.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

// Before anything initialises OpenSSL (static initialisation runs before gtest's main).
const bool kPermissiveOpenSsl =
    ::setenv("OPENSSL_CONF", ETP2S_SOURCE_DIR "/tests/common/tls_legacy_openssl.cnf", 1) == 0;
// A refused handshake closes the socket under the other side's writes: an error to see, not a signal.
const bool kNoSigpipe = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;

// A TLS server on 127.0.0.1 that speaks exactly one protocol version and answers any request with a small
// HTTP 200, one connection at a time, until destroyed.
class OneVersionServer {
 public:
  explicit OneVersionServer(int version) : dir_(temp_dir("etp2s-tls-min")) {
    write_server_cert(cert(), dir_ + "/server.key", "DNS:localhost");
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx_, version);
    SSL_CTX_set_max_proto_version(ctx_, version);
    SSL_CTX_use_certificate_file(ctx_, cert().c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx_, (dir_ + "/server.key").c_str(), SSL_FILETYPE_PEM);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneVersionServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept(); the descriptor is closed only once the thread is done
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  OneVersionServer(const OneVersionServer&) = delete;
  OneVersionServer& operator=(const OneVersionServer&) = delete;

  int port() const { return port_; }
  std::string cert() const { return dir_ + "/server.crt"; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        char buf[4096];
        (void)SSL_read(ssl, buf, sizeof buf);
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ERR_clear_error();
      ::close(c);
    }
  }

  std::string dir_;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A client with OpenSSL's defaults (as configured for this process): the protocol version it negotiated, or
// 0 if the handshake failed.
int default_client_version(int port) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int version = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) version = SSL_version(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  ERR_clear_error();
  ::close(fd);
  SSL_CTX_free(ctx);
  return version;
}

Result<HttpResponse, TransportError> https_get(const OneVersionServer& s) {
  HttpClient http({5'000, 10'000, s.cert()});
  return http.send({"GET", "https://localhost:" + std::to_string(s.port()) + "/", {}, "", std::nullopt});
}

}  // namespace

TEST(TlsMinimum, TheTestEnvironmentWouldOtherwiseAcceptTls11) {
  ASSERT_TRUE(kPermissiveOpenSsl);
  ASSERT_TRUE(kNoSigpipe);
  OneVersionServer old(TLS1_1_VERSION);
  EXPECT_EQ(default_client_version(old.port()), TLS1_1_VERSION)
      << "OpenSSL refuses TLS 1.1 here even with defaults: the tests below would prove nothing";
}

TEST(TlsMinimum, EveryHttpRequestRefusesTls11AndSpeaksTls12) {
  OneVersionServer old(TLS1_1_VERSION);
  ASSERT_EQ(default_client_version(old.port()), TLS1_1_VERSION);
  auto r = https_get(old);
  EXPECT_FALSE(r.ok()) << "an HTTP request completed over TLS 1.1";
  OneVersionServer current(TLS1_2_VERSION);
  auto ok = https_get(current);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok");
}

TEST(TlsMinimum, TheRedisTlsTunnelRefusesTls11AndSpeaksTls12) {
  OneVersionServer old(TLS1_1_VERSION);
  ASSERT_EQ(default_client_version(old.port()), TLS1_1_VERSION);
  auto refused = TlsPipe::open({"localhost", old.port(), old.cert(), 5000});
  EXPECT_FALSE(refused.ok()) << "the Redis tunnel completed a TLS 1.1 handshake";
  OneVersionServer current(TLS1_2_VERSION);
  auto opened = TlsPipe::open({"localhost", current.port(), current.cert(), 5000});
  ASSERT_TRUE(opened.ok()) << opened.error();
  ::close(opened.value()->local_fd());
}
