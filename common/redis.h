#pragma once
// A small hiredis client: RAII over redisContext, reconnect on failure, pipelining, Lua scripts.
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "common/tls_pipe.h"

namespace etp2s {

struct Config;

// REDIS_AUTH=entra (Azure Managed Redis): where the connection gets the Entra ID token it sends as the
// password. Shared by every connection of a process (common/redis_entra.cpp); thread-safe.
class RedisTokenSource {
 public:
  virtual ~RedisTokenSource() = default;
  // The current token (cached; renewed before it expires). Err: no token to be had (never holds a token).
  virtual Result<Secret, std::string> token() = 0;
  // AUTH refused the token: true if a new one should be tried (false: the refused one was itself new).
  virtual bool renew_after_refusal() = 0;
  virtual void accepted() = 0;
};

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;
  std::string user;  // Redis 6 ACL user; empty: the default user
  Secret password;
  int db = 0;
  bool tls = false;       // rediss://: TLS made by TlsPipe (hiredis 0.14 has none)
  std::string ca_bundle;  // for tls: PEM CA file; empty: the system store
  // Set: AUTH user <token> on connect, and again on the open connection whenever the source hands out a new
  // token (before the old one expires); `password` is then unused.
  std::shared_ptr<RedisTokenSource> entra;
};
// redis://[[user]:password@]host[:port][/db], rediss://... (TLS, e.g. Azure Managed Redis) or unix:///path.
// Err names REDIS_URL and never shows the password.
Result<RedisAddress, std::string> parse_redis_url(const std::string& url, std::string ca_bundle = "");
// The address the roles connect to: REDIS_URL and REDIS_CA_BUNDLE, with REDIS_AUTH=entra the user
// REDIS_USERNAME and an Entra ID token source (common/redis_entra.cpp).
Result<RedisAddress, std::string> redis_address(const Config& c);

struct RedisReply {
  enum class Type { Nil, Integer, String, Array, Status, Error } type = Type::Nil;
  long long integer = 0;
  std::string str;
  std::vector<RedisReply> elements;
  bool nil() const { return type == Type::Nil; }
};

class Redis {
 public:
  explicit Redis(RedisAddress address);
  // Err: connection problems (retry later) or a Redis error reply.
  Result<RedisReply, std::string> command(const std::vector<std::string>& argv);
  Result<std::vector<RedisReply>, std::string> pipeline(
      const std::vector<std::vector<std::string>>& commands);
  Result<RedisReply, std::string> eval(const std::string& script, const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args);

 private:
  Result<Unit, std::string> ensure_connected();
  Result<Unit, std::string> authenticate();
  Result<Unit, std::string> reauthenticate_if_renewed();
  // One command on the open connection; Err (and the connection closed) on an error reply or a lost link.
  Result<Unit, std::string> setup(const std::vector<std::string>& cmd);
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  RedisAddress address_;
  std::unique_ptr<TlsPipe> tls_;  // declared before ctx_: hiredis' end closes first, then the pipe
  std::unique_ptr<redisContext, Free> ctx_;
  Secret sent_token_;  // entra: the token this connection authenticated with
  std::chrono::steady_clock::time_point token_checked_{};
};

}  // namespace etp2s
