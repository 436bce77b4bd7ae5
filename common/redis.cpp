#include "common/redis.h"

#include <unistd.h>

namespace etp2s {

Result<RedisAddress, std::string> parse_redis_url(const std::string& url, std::string ca_bundle) {
  RedisAddress a;
  if (url.rfind("unix://", 0) == 0) {
    a.unix_path = url.substr(7);
    return a;
  }
  a.tls = url.rfind("rediss://", 0) == 0;
  if (!a.tls && url.rfind("redis://", 0) != 0) {
    return err(std::string("REDIS_URL must start with redis://, rediss:// or unix://"));
  }
  a.ca_bundle = std::move(ca_bundle);
  std::string rest = url.substr(a.tls ? 9 : 8);
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    auto colon = cred.find(':');
    a.password = Secret(colon == std::string::npos ? cred : cred.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) a.db = std::atoi(rest.c_str() + slash + 1);
  auto colon = hostport.rfind(':');
  a.host = hostport.substr(0, colon);
  if (colon != std::string::npos) a.port = std::atoi(hostport.c_str() + colon + 1);
  if (a.host.empty() || a.port <= 0) return err("REDIS_URL has no usable host:port");
  return a;
}

namespace {
RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
}  // namespace

Redis::Redis(RedisAddress address) : address_(std::move(address)) {}

Result<Unit, std::string> Redis::ensure_connected() {
  if (ctx_ && ctx_->err == 0) return Unit{};
  ctx_.reset();
  tls_.reset();
  timeval tv{2, 0};
  redisContext* c = nullptr;
  if (address_.tls) {
    auto pipe = TlsPipe::open({address_.host, address_.port, address_.ca_bundle, 5000});
    if (!pipe) return err(pipe.error());
    tls_ = std::move(pipe.value());
    c = redisConnectFd(tls_->local_fd());
    if (!c) ::close(tls_->local_fd());
  } else if (address_.unix_path.empty()) {
    c = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  } else {
    c = redisConnectUnixWithTimeout(address_.unix_path.c_str(), tv);
  }
  if (!c) return err(std::string("redis: cannot allocate a connection"));
  ctx_.reset(c);
  if (c->err) {
    std::string msg = "redis: cannot connect to " + address_.host + ":" + std::to_string(address_.port) +
                      " (" + c->errstr + ")";
    ctx_.reset();
    return err(msg);
  }
  timeval io{10, 0};
  redisSetTimeout(c, io);
  std::vector<std::vector<std::string>> setup;
  if (!address_.password.empty()) setup.push_back({"AUTH", address_.password.reveal()});
  if (address_.db != 0) setup.push_back({"SELECT", std::to_string(address_.db)});
  for (const auto& cmd : setup) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& s : cmd) argv.push_back(s.data()), lens.push_back(s.size());
    std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      std::string msg = "redis: " + cmd[0] + " failed" + (r ? std::string(": ") + r->str : std::string());
      ctx_.reset();
      return err(msg);
    }
  }
  return Unit{};
}

Result<std::vector<RedisReply>, std::string> Redis::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  auto ok = ensure_connected();
  if (!ok) return err(ok.error());
  for (const auto& cmd : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& s : cmd) argv.push_back(s.data()), lens.push_back(s.size());
    redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || !raw) {
      std::string msg = std::string("redis: connection lost (") + (ctx_ ? ctx_->errstr : "") + ")";
      ctx_.reset();
      return err(msg);
    }
    std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(raw));
    out.push_back(convert(r.get()));
  }
  return out;
}

Result<RedisReply, std::string> Redis::command(const std::vector<std::string>& argv) {
  auto r = pipeline({argv});
  if (!r) return err(r.error());
  RedisReply reply = std::move(r.value()[0]);
  if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
  return reply;
}

Result<RedisReply, std::string> Redis::eval(const std::string& script, const std::vector<std::string>& keys,
                                            const std::vector<std::string>& args) {
  // The scripts are short; EVAL keeps them correct after a Redis restart without a script cache to manage.
  std::vector<std::string> argv{"EVAL", script, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return command(argv);
}

}  // namespace etp2s
