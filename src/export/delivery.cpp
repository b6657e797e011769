#include "export/delivery.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cinttypes>
#include <filesystem>
#include <fstream>

namespace sightline::exporter {

namespace fs = std::filesystem;

core::Status parse_http_url(const std::string& url, std::string* host, int* port, std::string* path) {
  if (!url.starts_with("http://"))
    return core::Status::error(EINVAL, "'" + url + "' is not an http:// URL");
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  *path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path->empty() && path->back() == '/') path->pop_back();
  *port = 80;
  std::string portpart;
  if (!hostport.empty() && hostport.front() == '[') {  // [::1]:9090
    size_t close = hostport.find(']');
    if (close == std::string::npos) return core::Status::error(EINVAL, "'" + url + "': unclosed [");
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return core::Status::error(EINVAL, "'" + url + "': expected :port after ]");
      portpart = hostport.substr(close + 2);
    }
    hostport = hostport.substr(1, close - 1);
  } else if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    portpart = hostport.substr(colon + 1);
    hostport = hostport.substr(0, colon);
  }
  if (!portpart.empty()) {
    char* end;
    long p = strtol(portpart.c_str(), &end, 10);
    if (*end || p < 1 || p > 65535) return core::Status::error(EINVAL, "'" + url + "': port must be 1 to 65535");
    *port = static_cast<int>(p);
  }
  if (hostport.empty()) return core::Status::error(EINVAL, "'" + url + "': no host");
  *host = hostport;
  return {};
}

core::Status Delivery::create(DeliveryOptions opts, std::unique_ptr<Delivery>* out) {
  std::unique_ptr<Delivery> d(new Delivery(std::move(opts)));
  if (auto st = parse_http_url(d->opts_.url, &d->host_, &d->port_, &d->base_path_); !st)
    return core::Status::error(EINVAL, d->opts_.name + ": " + st.message());
  if (!d->opts_.spool_dir.empty()) {
    std::error_code ec;
    fs::create_directories(d->opts_.spool_dir, ec);
    if (ec) return core::Status::error(ec.value(), d->opts_.name + ": spool " + d->opts_.spool_dir + ": " + ec.message());
    // What an earlier run left: delivered first, in order.
    std::vector<std::pair<std::string, uint64_t>> files;
    for (const auto& e : fs::directory_iterator(d->opts_.spool_dir, ec)) {
      std::string n = e.path().filename().string();
      if (n.ends_with(".batch")) files.emplace_back(e.path().string(), e.file_size(ec));
      else if (n.ends_with(".tmp")) fs::remove(e.path(), ec);  // a write the last run did not finish
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      d->spool_bytes_ += f.second;
      uint64_t seq = strtoull(fs::path(f.first).stem().c_str(), nullptr, 10);
      d->spool_seq_ = std::max(d->spool_seq_, seq + 1);
      d->spool_.push_back(std::move(f));
    }
    if (!d->spool_.empty())
      spdlog::info("{}: {} batches left in the spool by the last run will be sent first", d->opts_.name, d->spool_.size());
  }
  d->thread_ = std::thread([p = d.get()] { p->loop(); });
  *out = std::move(d);
  return {};
}

Delivery::~Delivery() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // What is still queued goes to the spool, for the next run.
  std::lock_guard lock(mu_);
  for (auto& b : queue_) {
    if (opts_.spool_dir.empty() || !spool_write(b)) {
      stats_.dropped[opts_.spool_dir.empty() ? "no_spool" : "spool_error"]++;
    } else
      stats_.batches_spooled++;
  }
  queue_.clear();
  queue_bytes_ = 0;
}

void Delivery::submit(Batch b) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  b.seq = spool_seq_++;
  // Order: once anything is spooled, everything after it is spooled too.
  if (spool_.empty() && queue_.size() < opts_.queue_batches && queue_bytes_ + b.body.size() <= opts_.queue_bytes) {
    queue_bytes_ += b.body.size();
    queue_.push_back(std::move(b));
  } else if (!opts_.spool_dir.empty()) {
    if (auto st = spool_write(b); st) {
      stats_.batches_spooled++;
      spool_trim_locked();
    } else {
      stats_.dropped["spool_error"]++;
      stats_.last_error = st.message();
    }
  } else {
    stats_.dropped["queue_full"]++;
  }
  cv_.notify_one();
}

core::Status Delivery::spool_write(const Batch& b) {
  char name[32];
  snprintf(name, sizeof name, "%016" PRIu64, b.seq);
  fs::path dir(opts_.spool_dir);
  std::string tmp = (dir / (std::string(name) + ".tmp")).string();
  std::string fin = (dir / (std::string(name) + ".batch")).string();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    // Header: target, content type, item count, header count, headers; then the body.
    out << b.target << '\n' << b.content_type << '\n' << b.items << '\n' << b.headers.size() << '\n';
    for (const auto& [k, v] : b.headers) out << k << '\n' << v << '\n';
    out.write(b.body.data(), static_cast<std::streamsize>(b.body.size()));
    if (!out.good()) return core::Status::error(EIO, tmp + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, fin, ec);
  if (ec) return core::Status::error(ec.value(), fin + ": " + ec.message());
  uint64_t size = fs::file_size(fin, ec);
  spool_.emplace_back(fin, size);
  spool_bytes_ += size;
  return {};
}

bool Delivery::spool_read(const std::string& file, Batch* b) const {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::string items, nh;
  if (!std::getline(in, b->target) || !std::getline(in, b->content_type) || !std::getline(in, items) ||
      !std::getline(in, nh))
    return false;
  b->items = strtoull(items.c_str(), nullptr, 10);
  size_t n = strtoull(nh.c_str(), nullptr, 10);
  if (n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    std::string k, v;
    if (!std::getline(in, k) || !std::getline(in, v)) return false;
    b->headers.emplace_back(std::move(k), std::move(v));
  }
  b->body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void Delivery::spool_trim_locked() {
  while (spool_bytes_ > opts_.spool_max_bytes && spool_.size() > 1) {
    auto [file, size] = spool_.front();
    // The oldest goes unless the sender is on it right now (it is then the next to finish).
    if (busy_ && spool_.size() < 2) break;
    std::error_code ec;
    fs::remove(file, ec);
    spool_bytes_ -= std::min(spool_bytes_, size);
    spool_.pop_front();
    stats_.dropped["spool_full"]++;
  }
}

int Delivery::post(const Batch& b) {
  httplib::Client cli(host_, port_);
  cli.set_tcp_nodelay(true);  // headers and body are two writes: Nagle would hold the body for an ACK
  auto secs = static_cast<time_t>(opts_.timeout_s);
  cli.set_connection_timeout(std::min<time_t>(secs, 3));
  cli.set_read_timeout(secs);
  cli.set_write_timeout(secs);
  httplib::Headers h;
  for (const auto& [k, v] : opts_.headers) h.emplace(k, v);
  for (const auto& [k, v] : b.headers) h.emplace(k, v);
  auto res = cli.Post(base_path_ + b.target, h, b.body, b.content_type.c_str());
  std::lock_guard lock(mu_);
  if (res && res->status >= 200 && res->status < 300) {
    stats_.batches_sent++;
    stats_.items_sent += b.items;
    stats_.last_success_s =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return 0;
  }
  stats_.attempts_failed++;
  stats_.last_error = res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                          : httplib::to_string(res.error());
  // 4xx but 408/429: the backend will never take this batch; anything else may pass later.
  if (res && res->status >= 400 && res->status < 500 && res->status != 408 && res->status != 429) {
    spdlog::warn("{}: batch rejected: {}", opts_.name, stats_.last_error);
    stats_.dropped["rejected"]++;
    return 2;
  }
  return 1;
}

void Delivery::loop() {
  double backoff = opts_.backoff_min_s;
  bool logged = false;
  for (;;) {
    Batch b;
    bool from_spool = false;
    std::string spool_file;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !spool_.empty(); });
      if (stopping_) return;
      if (!queue_.empty()) {
        b = queue_.front();
      } else {
        spool_file = spool_.front().first;
        from_spool = true;
      }
      busy_ = true;
    }
    if (from_spool && !spool_read(spool_file, &b)) {
      std::lock_guard lock(mu_);
      spdlog::warn("{}: {}: unreadable spool file, dropped", opts_.name, spool_file);
      std::error_code ec;
      fs::remove(spool_file, ec);
      spool_bytes_ -= std::min(spool_bytes_, spool_.front().second);
      spool_.pop_front();
      stats_.dropped["spool_error"]++;
      busy_ = false;
      continue;
    }
    int r = post(b);
    if (r == 1) {
      if (!logged) spdlog::warn("{}: {} is not taking batches ({}); retrying with backoff, spooling meanwhile",
                                opts_.name, opts_.url, stats().last_error);
      logged = true;
      std::unique_lock lock(mu_);
      stats_.retries++;
      busy_ = false;
      cv_.wait_for(lock, std::chrono::duration<double>(backoff), [&] { return stopping_; });
      backoff = std::min(opts_.backoff_max_s, backoff * 2);
      continue;
    }
    if (logged) spdlog::info("{}: {} is taking batches again", opts_.name, opts_.url);
    logged = false;
    backoff = opts_.backoff_min_s;
    std::lock_guard lock(mu_);
    busy_ = false;
    if (!from_spool) {
      queue_bytes_ -= std::min(queue_bytes_, queue_.front().body.size());
      queue_.pop_front();
    } else if (!spool_.empty() && spool_.front().first == spool_file) {
      std::error_code ec;
      fs::remove(spool_file, ec);
      spool_bytes_ -= std::min(spool_bytes_, spool_.front().second);
      spool_.pop_front();
    }
    cv_.notify_all();
  }
}

bool Delivery::drain(double seconds) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                      [&] { return queue_.empty() && spool_.empty(); });
}

DeliveryStats Delivery::stats() const {
  std::lock_guard lock(mu_);
  DeliveryStats s = stats_;
  s.queue_batches = queue_.size();
  s.spool_batches = spool_.size();
  s.spool_bytes = spool_bytes_;
  return s;
}

void Delivery::metrics(std::vector<core::MetricFamily>& out) const {
  DeliveryStats s = stats();
  core::Labels l{{"exporter", opts_.name}};
  auto add = [&](const char* name, const char* help, core::MetricType t, core::Labels labels, double v) {
    for (auto& f : out)
      if (f.name == name) {
        f.series.push_back({std::move(labels), v});
        return;
      }
    core::MetricFamily f{name, help, t};
    f.series.push_back({std::move(labels), v});
    out.push_back(std::move(f));
  };
  using core::MetricType;
  add("sightline_exporter_batches_sent_total", "Batches the backend accepted", MetricType::kCounter, l,
      static_cast<double>(s.batches_sent));
  add("sightline_exporter_items_sent_total", "Samples, rows or log lines the backend accepted",
      MetricType::kCounter, l, static_cast<double>(s.items_sent));
  add("sightline_exporter_failed_attempts_total", "POSTs that failed (each retry counts)", MetricType::kCounter, l,
      static_cast<double>(s.attempts_failed));
  add("sightline_exporter_retries_total", "Times a batch was retried after a backoff", MetricType::kCounter, l,
      static_cast<double>(s.retries));
  add("sightline_exporter_spooled_total", "Batches written to the on-disk spool", MetricType::kCounter, l,
      static_cast<double>(s.batches_spooled));
  for (const char* reason : {"rejected", "spool_full", "spool_error", "queue_full", "no_spool"}) {
    auto it = s.dropped.find(reason);
    core::Labels dl = l;
    dl.emplace_back("reason", reason);
    add("sightline_exporter_dropped_total",
        "Batches given up: rejected (the backend said 4xx), spool_full (oldest spooled dropped for the bound), "
        "spool_error, queue_full (no spool configured), no_spool (queued at stop, no spool)",
        MetricType::kCounter, dl, it == s.dropped.end() ? 0 : static_cast<double>(it->second));
  }
  add("sightline_exporter_queue_batches", "Batches in memory waiting to be sent", MetricType::kGauge, l,
      static_cast<double>(s.queue_batches));
  add("sightline_exporter_spool_batches", "Batches in the on-disk spool", MetricType::kGauge, l,
      static_cast<double>(s.spool_batches));
  add("sightline_exporter_spool_bytes", "Bytes in the on-disk spool", MetricType::kGauge, l,
      static_cast<double>(s.spool_bytes));
  add("sightline_exporter_last_success_timestamp_seconds", "Unix time of the last batch the backend accepted",
      MetricType::kGauge, l, s.last_success_s);
}

}  // namespace sightline::exporter
