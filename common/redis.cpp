#include "common/redis.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/log.h"

namespace etp2s {

namespace {

// A decimal number in [lo, hi]; atoi would read "99999" as a port and "abc" as db 0.
std::optional<int> bounded_number(const std::string& s, int lo, int hi) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < lo || n > hi) return std::nullopt;
  return n;
}

// unix:///absolute/path. An empty path would fall through to TCP 127.0.0.1:6379, so it is refused.
Result<RedisAddress, std::string> parse_unix(const std::string& url) {
  RedisAddress a;
  a.unix_path = url.substr(7);
  if (a.unix_path.empty() || a.unix_path.front() != '/')
    return err(std::string("REDIS_URL unix:// needs an absolute socket path (unix:///path/redis.sock)"));
  if (a.unix_path.find_first_of("?#") != std::string::npos)
    return err(std::string("REDIS_URL unix:// takes only a socket path (no query or password)"));
  return a;
}

// user:password, :password or password. Messages never show the credentials.
Result<Unit, std::string> parse_credentials(const std::string& cred, RedisAddress& a) {
  auto colon = cred.find(':');
  if (colon != std::string::npos) a.user = cred.substr(0, colon);
  a.password = Secret(colon == std::string::npos ? cred : cred.substr(colon + 1));
  if (!a.user.empty() && a.password.empty())
    return err(std::string("REDIS_URL names an ACL user without a password"));
  return Unit{};
}

// host[:port] or [v6][:port].
Result<Unit, std::string> parse_host_port(const std::string& hostport, RedisAddress& a) {
  std::size_t host_end = 0;  // where the host (with its brackets) ends
  if (!hostport.empty() && hostport.front() == '[') {
    host_end = hostport.find(']');
    if (host_end == std::string::npos) return err(std::string("REDIS_URL has an unclosed [ in its host"));
    a.host = hostport.substr(1, host_end - 1);
    ++host_end;
  } else {
    host_end = std::min(hostport.rfind(':'), hostport.size());
    a.host = hostport.substr(0, host_end);
  }
  if (a.host.empty()) return err(std::string("REDIS_URL has no host"));
  if (host_end == hostport.size()) return Unit{};
  if (hostport[host_end] != ':')
    return err(std::string("REDIS_URL has text after its host that is not a port"));
  auto p = bounded_number(hostport.substr(host_end + 1), 1, 65535);
  if (!p) return err(std::string("REDIS_URL port must be a number from 1 to 65535"));
  a.port = *p;
  return Unit{};
}

}  // namespace

Result<RedisAddress, std::string> parse_redis_url(const std::string& url, std::string ca_bundle) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return err(std::string("REDIS_URL contains a space or control character"));
  }
  if (url.rfind("unix://", 0) == 0) return parse_unix(url);
  RedisAddress a;
  a.tls = url.rfind("rediss://", 0) == 0;
  if (!a.tls && url.rfind("redis://", 0) != 0) {
    return err(std::string("REDIS_URL must start with redis://, rediss:// or unix://"));
  }
  a.ca_bundle = std::move(ca_bundle);
  std::string rest = url.substr(a.tls ? 9 : 8);
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    if (auto ok = parse_credentials(rest.substr(0, at), a); !ok) return err(ok.error());
    rest = rest.substr(at + 1);
  }
  auto slash = rest.find('/');
  if (auto ok = parse_host_port(rest.substr(0, slash), a); !ok) return err(ok.error());
  std::string db = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (!db.empty()) {
    auto n = bounded_number(db, 0, 1 << 20);
    if (!n) return err(std::string("REDIS_URL database (after the /) must be a non-negative whole number"));
    a.db = *n;
  }
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
  if (ctx_ && ctx_->err == 0) return reauthenticate_if_renewed();
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
    std::string where =
        address_.unix_path.empty() ? address_.host + ":" + std::to_string(address_.port) : address_.unix_path;
    std::string msg = "redis: cannot connect to " + where + " (" + c->errstr + ")";
    ctx_.reset();
    return err(msg);
  }
  timeval io{10, 0};
  redisSetTimeout(c, io);
  auto ok = authenticate();
  if (ok && address_.db != 0) ok = setup({"SELECT", std::to_string(address_.db)});
  if (!ok) ctx_.reset();
  return ok;
}

Result<Unit, std::string> Redis::setup(const std::vector<std::string>& cmd) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& s : cmd) argv.push_back(s.data()), lens.push_back(s.size());
  std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(
      redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
  if (!r) {
    std::string msg = "redis: connection lost during " + cmd[0] + " (" + ctx_->errstr + ")";
    ctx_.reset();
    return err(msg);
  }
  if (r->type == REDIS_REPLY_ERROR)
    return err("redis: " + cmd[0] + " failed: " + std::string(r->str, r->len));
  return Unit{};
}

// AUTH as the configured user. Redis 6 ACL: AUTH user password; without a user, the default user's AUTH
// password. REDIS_AUTH=entra: AUTH user <the source's current token>; a refused token is renewed once.
Result<Unit, std::string> Redis::authenticate() {
  if (!address_.entra) {
    if (!address_.user.empty()) return setup({"AUTH", address_.user, address_.password.reveal()});
    if (!address_.password.empty()) return setup({"AUTH", address_.password.reveal()});
    return Unit{};
  }
  for (;;) {
    token_checked_ = std::chrono::steady_clock::now();
    auto token = address_.entra->token();
    if (!token) return err("redis: no Entra ID token for AUTH as " + address_.user + ": " + token.error());
    auto ok = setup({"AUTH", address_.user, token->reveal()});
    if (ok) {
      sent_token_ = std::move(token.value());
      address_.entra->accepted();
      return ok;
    }
    if (!ctx_) return ok;  // the connection is gone, not the token refused
    if (!address_.entra->renew_after_refusal()) {
      return err(log::redact(
          ok.error() + " (REDIS_AUTH=entra: the Entra ID token of REDIS_USERNAME " + address_.user +
          " was refused; check that REDIS_USERNAME is the identity's object (principal) id "
          "and that the identity has an access policy assignment on the cache)"));
    }
  }
}

// REDIS_AUTH=entra: at most once a second, ask the source for its token. A new one (the source renews before
// the old one expires) is sent with AUTH on this open connection, so the server never closes it for an
// expired token.
Result<Unit, std::string> Redis::reauthenticate_if_renewed() {
  auto now = std::chrono::steady_clock::now();
  if (!address_.entra || now - token_checked_ < std::chrono::seconds(1)) return Unit{};
  token_checked_ = now;
  auto token = address_.entra->token();
  if (!token || token.value() == sent_token_) return Unit{};  // no new token: keep the connection as it is
  auto ok = authenticate();
  if (!ok) ctx_.reset();
  log::debug("redis.reauthenticated", {{"user", address_.user}, {"ok", ok.ok()}});
  return ok;
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
