#include "server/http_server.h"

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace sightline::server {
namespace {

// httplib's request loop, reachable for connections it did not accept (the Unix socket).
struct Server : httplib::Server {
  using httplib::Server::process_request;
};

// A connected Unix socket as httplib's stream.
class UnixStream : public httplib::Stream {
 public:
  explicit UnixStream(int fd) : fd_(fd) {}
  bool is_readable() const override {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 5000) > 0;
  }
  bool is_writable() const override {
    pollfd p{fd_, POLLOUT, 0};
    return poll(&p, 1, 5000) > 0 && !(p.revents & (POLLERR | POLLHUP));
  }
  ssize_t read(char* ptr, size_t size) override {
    if (!is_readable()) return -1;
    return ::recv(fd_, ptr, size, 0);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    return ::send(fd_, ptr, size, MSG_NOSIGNAL);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "unix";
    port = -1;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "unix";
    port = -1;
  }
  socket_t socket() const override { return fd_; }

 private:
  int fd_;
};

}  // namespace

struct HttpServer::Impl {
  Server svr;                                // plain HTTP, and the Unix socket's requests
  std::unique_ptr<httplib::SSLServer> tls;   // HTTPS on the TCP listener when enabled
  std::vector<std::function<void(httplib::Server&)>> routes;  // to register on `tls` too
  httplib::Server& tcp() { return tls ? static_cast<httplib::Server&>(*tls) : svr; }
  void add(std::function<void(httplib::Server&)> route) {
    route(svr);
    if (tls) route(*tls);
    routes.push_back(std::move(route));
  }
  static void configure(httplib::Server& s) {
    // Scrapes and health checks are light; live streams hold a worker each (at most 8 of them).
    s.new_task_queue = [] { return new httplib::ThreadPool(12); };
    s.set_payload_max_length(64 << 20);
  }
  std::atomic<int> unix_clients{0};
  std::mutex mu;
  std::set<int> client_fds;  // shut down by stop(), which then waits for their threads
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) { Impl::configure(impl_->svr); }

core::Status HttpServer::enable_tls(const std::string& cert_file, const std::string& key_file) {
  for (const auto& f : {cert_file, key_file})
    if (access(f.c_str(), R_OK) != 0)
      return core::Status::error(errno, "tls: " + f + ": " + strerror(errno));
  auto tls = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!tls->is_valid())
    return core::Status::error(EINVAL, "tls: " + cert_file + " and " + key_file +
                                           " are not a PEM certificate and its private key");
  Impl::configure(*tls);
  for (const auto& r : impl_->routes) r(*tls);
  impl_->tls = std::move(tls);
  return {};
}

HttpServer::~HttpServer() { stop(); }

namespace {
bool authorized(const std::string& token, const std::set<std::string>& open, const httplib::Request& req,
                httplib::Response& res) {
  // The Unix socket is the agent user's alone: its mode is the check.
  if (token.empty() || req.remote_addr == "unix" || open.count(req.path) ||
      req.get_header_value("Authorization") == "Bearer " + token)
    return true;
  res.status = 401;
  res.set_content("missing or wrong bearer token\n", "text/plain");
  return false;
}
Request request_of(const httplib::Request& req) {
  Request r{req.get_header_value("Accept"), req.path, {}};
  for (const auto& [k, v] : req.params) r.params[k] = v;
  return r;
}
}  // namespace

void HttpServer::get(const std::string& path, Handler h) {
  auto handler = [this, h](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(token_, public_, req, res)) return;
    Response r = h(request_of(req));
    res.status = r.status;
    res.set_content(r.body, r.content_type.c_str());
  };
  impl_->add([path, handler](httplib::Server& s) { s.Get(path, handler); });
}

void HttpServer::post(const std::string& path, Handler h) {
  auto handler = [this, h](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(token_, public_, req, res)) return;
    Request r = request_of(req);
    r.content_type = req.get_header_value("Content-Type");
    r.body = req.body;
    Response out = h(r);
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
  };
  impl_->add([path, handler](httplib::Server& s) { s.Post(path, handler); });
}

void HttpServer::get_stream(const std::string& path, std::function<Stream(const Request&)> h) {
  auto handler = [this, h](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(token_, public_, req, res)) return;
    Stream st = h(request_of(req));
    res.status = st.status;
    if (st.status != 200 || !st.next) {
      res.set_content(st.body, st.content_type.c_str());
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(st.content_type, [next = st.next](size_t, httplib::DataSink& sink) {
      std::string chunk;
      if (!next(&chunk)) {
        sink.done();
        return true;
      }
      if (chunk.empty()) return true;
      return sink.write(chunk.data(), chunk.size());
    });
  };
  impl_->add([path, handler](httplib::Server& s) { s.Get(path, handler); });
}

core::Status HttpServer::start(const std::string& host, int port) {
  if (!impl_->tcp().bind_to_port(host.c_str(), port))
    return core::Status::error(EADDRINUSE, "cannot listen on " + host + ":" + std::to_string(port) +
                                               " (address in use, or not an address of this host)");
  port_ = port;
  thread_ = std::thread([this] { impl_->tcp().listen_after_bind(); });
  return {};
}

core::Status HttpServer::start_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return core::Status::error(ENAMETOOLONG, path + ": longer than a Unix socket path may be");
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return core::Status::error(ec.value(), p.parent_path().string() + ": " + ec.message());
  }
  unlink(path.c_str());  // a socket left by a run that did not stop cleanly
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::Status::error(errno, std::string("socket: ") + strerror(errno));
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size());
  mode_t old = umask(0177);  // created 0600: no window where others could connect
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || listen(fd, 16) != 0) {
    int err = errno;
    close(fd);
    return core::Status::error(err, path + ": " + strerror(err));
  }
  chmod(path.c_str(), 0600);
  unix_fd_ = fd;
  unix_path_ = path;
  unix_thread_ = std::thread([this] {
    for (;;) {
      int c = accept4(unix_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // closed by stop()
      }
      if (impl_->unix_clients.load() >= 16) {  // bounded: each client holds a thread
        close(c);
        continue;
      }
      impl_->unix_clients++;
      {
        std::lock_guard lock(impl_->mu);
        impl_->client_fds.insert(c);
      }
      std::thread([this, c] {
        UnixStream strm(c);
        for (int n = 0; n < 1000; n++) {  // keep-alive, as the TCP listener does
          if (!strm.is_readable()) break;
          bool closed = false;
          if (!impl_->svr.process_request(strm, false, closed, [](httplib::Request&) {})) break;
          if (closed) break;
        }
        {
          std::lock_guard lock(impl_->mu);
          impl_->client_fds.erase(c);
        }
        close(c);
        impl_->unix_clients--;
      }).detach();
    }
  });
  return {};
}

void HttpServer::stop() {
  if (unix_fd_ >= 0) {
    shutdown(unix_fd_, SHUT_RDWR);
    close(unix_fd_);
    unix_fd_ = -1;
    if (unix_thread_.joinable()) unix_thread_.join();
    unlink(unix_path_.c_str());
    {
      std::lock_guard lock(impl_->mu);
      for (int c : impl_->client_fds) shutdown(c, SHUT_RDWR);
    }
    for (int i = 0; i < 100 && impl_->unix_clients.load() > 0; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (thread_.joinable()) {
    impl_->tcp().stop();
    thread_.join();
  }
}

}  // namespace sightline::server
