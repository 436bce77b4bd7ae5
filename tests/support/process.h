#pragma once
// Test helpers: child processes (our binaries, redis-server) on free loopback ports.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace etp2s::testing {

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           (name + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(p);
  return p.string();
}

// argv and the environment of a child (this process's environment plus `env`), as posix_spawn wants them;
// the pointers stay valid while this object lives.
struct ChildArgs {
  ChildArgs(std::vector<std::string> argv, const std::map<std::string, std::string>& env)
      : args(std::move(argv)) {
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    for (auto& e : envs) ev.push_back(e.data());
    ev.push_back(nullptr);
  }
  std::vector<std::string> args, envs;
  std::vector<char*> av, ev;
};

class Process {
 public:
  Process() = default;
  // Starts argv[0] with the current environment plus `env`; stdout and stderr go to `log_path`.
  Process(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
          const std::string& log_path) {
    ChildArgs child(std::move(argv), env);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid_, child.av[0], &fa, nullptr, child.av.data(), child.ev.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
  Process& operator=(Process&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(status_, o.status_);
    return *this;
  }
  ~Process() {
    if (running()) {
      kill(SIGKILL);
      wait_for(std::chrono::seconds(5));
    }
  }
  bool started() const { return pid_ > 0; }
  bool running() {
    if (pid_ <= 0 || status_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      return false;
    }
    return true;
  }
  void kill(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }
  // Exit code (or 128 + signal) if the process ended within `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (running() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!status_) return std::nullopt;
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Whether something accepts TCP connections on 127.0.0.1:port.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A real redis-server with AOF, in its own directory, on a free loopback port.
class RedisServer {
 public:
  explicit RedisServer(std::string dir = temp_dir("etp2s-redis")) : dir_(std::move(dir)), port_(free_port()) {
    start();
  }
  void start() {
    proc_ = Process({"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",
                     dir_, "--appendonly", "yes", "--appendfsync", "always", "--save", ""},
                    {}, dir_ + "/redis.log");
    for (int i = 0; i < 200 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  void kill9() {
    proc_.kill(SIGKILL);
    proc_.wait_for(std::chrono::seconds(5));
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  int port() const { return port_; }

 private:
  std::string dir_;
  int port_;
  Process proc_;
};

inline std::string binary(const std::string& relative) {
  return std::string(ETP2S_BINARY_DIR) + "/" + relative;
}

}  // namespace etp2s::testing
