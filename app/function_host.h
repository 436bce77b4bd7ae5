#pragma once
// The Azure Functions custom-handler side of `etp2sentinel function-host`: a minimal HTTP/1.1 server on
// 127.0.0.1:FUNCTIONS_CUSTOMHANDLER_PORT. The Functions host POSTs each trigger invocation to /<function
// name> with a JSON body ({"Data": ..., "Metadata": ...}) and expects {"Outputs": ..., "Logs": [...],
// "ReturnValue": ...}; a non-2xx status marks the invocation failed.
#include <atomic>
#include <functional>
#include <string>

namespace etp2s {

struct HandlerReply {
  int status = 200;
  std::string json;
};

class FunctionHost {
 public:
  // function: the invoked function's name (the path without its slash); body: the invocation payload.
  using Handler = std::function<HandlerReply(const std::string& function, const std::string& body)>;

  // Binds 127.0.0.1:port (0: any free port). bound_port() < 0 when it cannot listen.
  FunctionHost(int port, Handler handler);
  ~FunctionHost();
  FunctionHost(const FunctionHost&) = delete;
  FunctionHost& operator=(const FunctionHost&) = delete;

  int bound_port() const { return port_; }
  // Serves one connection at a time (the host sends one invocation at a time per function) until `stop`.
  void run(const std::atomic<bool>& stop);

  // Exposed for tests: parses one request from `raw`; returns the reply to send.
  HandlerReply respond(const std::string& raw) const;

  static constexpr std::size_t kMaxRequestBytes = 1 << 20;

 private:
  void serve_connection(int fd) const;
  int listen_fd_ = -1;
  int port_ = -1;
  Handler handler_;
};

}  // namespace etp2s
