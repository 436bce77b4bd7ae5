#pragma once
// A small hiredis client: RAII over redisContext, reconnect on failure, pipelining, Lua scripts.
#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "common/tls_pipe.h"

namespace etp2s {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;
  std::string user;  // Redis 6 ACL user; empty: the default user
  Secret password;
  int db = 0;
  bool tls = false;       // rediss://: TLS made by TlsPipe (hiredis 0.14 has none)
  std::string ca_bundle;  // for tls: PEM CA file; empty: the system store
};
// redis://[[user]:password@]host[:port][/db], rediss://... (TLS, e.g. Azure Managed Redis) or unix:///path.
// Err names REDIS_URL and never shows the password.
Result<RedisAddress, std::string> parse_redis_url(const std::string& url, std::string ca_bundle = "");

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
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  RedisAddress address_;
  std::unique_ptr<TlsPipe> tls_;  // declared before ctx_: hiredis' end closes first, then the pipe
  std::unique_ptr<redisContext, Free> ctx_;
};

}  // namespace etp2s
