#include "server/http_server.h"

#include <httplib.h>

namespace sightline::server {

struct HttpServer::Impl {
  httplib::Server svr;
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {
  // Two workers: scrapes and health checks are light; idle threads cost memory.
  impl_->svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::get(const std::string& path, Handler h) {
  impl_->svr.Get(path, [this, h](const httplib::Request& req, httplib::Response& res) {
    if (!token_.empty() && req.get_header_value("Authorization") != "Bearer " + token_) {
      res.status = 401;
      res.set_content("missing or wrong bearer token\n", "text/plain");
      return;
    }
    Request r0{req.get_header_value("Accept"), {}};
    for (const auto& [k, v] : req.params) r0.params[k] = v;
    Response r = h(r0);
    res.status = r.status;
    res.set_content(r.body, r.content_type.c_str());
  });
}

core::Status HttpServer::start(const std::string& host, int port) {
  if (!impl_->svr.bind_to_port(host.c_str(), port))
    return core::Status::error(EADDRINUSE, "cannot listen on " + host + ":" + std::to_string(port) +
                                               " (address in use, or not an address of this host)");
  port_ = port;
  thread_ = std::thread([this] { impl_->svr.listen_after_bind(); });
  return {};
}

void HttpServer::stop() {
  if (thread_.joinable()) {
    impl_->svr.stop();
    thread_.join();
  }
}

}  // namespace sightline::server
