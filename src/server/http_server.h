// The agent's HTTP listener. cpp-httplib stays inside http_server.cpp: this header is cheap.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"

namespace sightline::server {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// What a handler may look at of a request.
struct Request {
  std::string accept;  // the Accept header (content negotiation)
  std::string path;
  std::map<std::string, std::string> params;  // query parameters
  std::string content_type;  // POST
  std::string body;          // POST (at most 64 MiB)
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  HttpServer();
  ~HttpServer();

  // Registers a GET route (before start).
  void get(const std::string& path, Handler h);
  void post(const std::string& path, Handler h);
  // A GET route whose body is a stream: the handler returns a status and content type and,
  // when the status is 200, `next`, called until it returns false (or the client goes) to
  // give each chunk (an empty chunk: nothing yet). Otherwise the body is `body`.
  struct Stream {
    int status = 200;
    std::string content_type = "text/event-stream";
    std::string body;
    std::function<bool(std::string* chunk)> next;
  };
  void get_stream(const std::string& path, std::function<Stream(const Request&)> h);
  // Requests must carry "Authorization: Bearer <token>" when token is not empty, except to
  // `public_paths` (exact paths: /healthz, /metrics).
  void set_token(std::string token, std::set<std::string> public_paths = {}) {
    token_ = std::move(token);
    public_ = std::move(public_paths);
  }
  // The TCP listener speaks HTTPS with this certificate chain and key (PEM files; the Unix
  // socket stays plain). Call before start(); routes registered before or after both serve.
  core::Status enable_tls(const std::string& cert_file, const std::string& key_file);
  // Binds (failing here, with a sentence, if the port is taken) and serves on a thread.
  core::Status start(const std::string& host, int port);
  // Also serves on a Unix socket (mode 0600: the agent's user only, no token asked), for
  // sidecars and local tools. Call after start().
  core::Status start_unix(const std::string& path);
  void stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_, unix_thread_;
  int unix_fd_ = -1;
  std::string unix_path_;
  std::string token_;
  std::set<std::string> public_;
  int port_ = 0;
};

}  // namespace sightline::server
