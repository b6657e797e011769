// `sightline top`: the busiest processes by CPU, syscalls, run-queue wait, disk and network bytes,
// refreshed every interval from the in-kernel aggregations; keys sort, q quits. `--once`
// prints one table (or `--json`) after one interval, for scripts.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "agent/runner.h"
#include "agent/top_model.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "core/render.h"

namespace sightline::cli {
namespace {

// Raw keyboard input while alive, the terminal restored after.
class RawTerminal {
 public:
  RawTerminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    if (active_) fputs("\x1b[?25l", stdout);  // hide the cursor
  }
  ~RawTerminal() {
    if (!active_) return;
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    fputs("\x1b[?25h\n", stdout);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

const char* sort_name(agent::TopSort s) {
  switch (s) {
    case agent::TopSort::kCpu: return "CPU";
    case agent::TopSort::kSyscalls: return "syscalls";
    case agent::TopSort::kRunq: return "run-queue wait";
    case agent::TopSort::kDisk: return "disk";
    case agent::TopSort::kNet: return "network";
  }
  return "";
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1 << 30) snprintf(buf, sizeof buf, "%.1fG", b / (1 << 30));
  else if (b >= 1 << 20) snprintf(buf, sizeof buf, "%.1fM", b / (1 << 20));
  else if (b >= 1 << 10) snprintf(buf, sizeof buf, "%.1fK", b / (1 << 10));
  else snprintf(buf, sizeof buf, "%.0f", b);
  return buf;
}

void render_text(const std::vector<agent::TopRow>& rows, agent::TopSort sort, double interval, bool screen) {
  std::string out;
  if (screen) out += "\x1b[H\x1b[2J";
  char line[256];
  time_t t = time(nullptr);
  struct tm tm;
  localtime_r(&t, &tm);
  char clock[16];
  strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  snprintf(line, sizeof line, "sightline top  %s  every %.1fs  sorted by %s%s\n", clock, interval,
           sort_name(sort), screen ? "   keys: c cpu  s syscalls  r run-queue  d disk  n net  q quit" : "");
  out += line;
  snprintf(line, sizeof line, "%-16s %7s %12s %12s %10s %10s\n", "COMM", "CPU%", "SYSCALLS/s", "RUNQ-ms/s", "DISK/s",
           "NET/s");
  out += line;
  for (const auto& r : rows) {
    snprintf(line, sizeof line, "%-16.16s %7.1f %12.0f %12.1f %10s %10s\n", r.comm.c_str(), r.cpu_pct,
             r.syscalls_per_s, r.runq_ms_per_s, human_bytes(r.disk_bytes_per_s).c_str(),
             human_bytes(r.net_bytes_per_s).c_str());
    out += line;
  }
  fputs(out.c_str(), stdout);
  fflush(stdout);
}

void render_json(const std::vector<agent::TopRow>& rows, double interval) {
  std::string out = "{\"interval_s\":" + std::to_string(interval) + ",\"rows\":[";
  for (size_t i = 0; i < rows.size(); i++) {
    if (i) out += ',';
    out += "{\"comm\":";
    core::append_json_string(out, rows[i].comm);
    char buf[160];
    snprintf(buf, sizeof buf, ",\"cpu_pct\":%.2f,\"syscalls_per_s\":%.1f,\"runq_ms_per_s\":%.2f,\"disk_bytes_per_s\":%.0f,\"net_bytes_per_s\":%.0f}",
             rows[i].cpu_pct, rows[i].syscalls_per_s, rows[i].runq_ms_per_s, rows[i].disk_bytes_per_s,
             rows[i].net_bytes_per_s);
    out += buf;
  }
  out += "]}\n";
  fputs(out.c_str(), stdout);
  fflush(stdout);
}

}  // namespace

int top(const TopArgs& args) {
  bpf::install_libbpf_logger(false);
  agent::Runner runner(bpf::probe_features());
  int running = 0;
  // process: names of short-lived processes (exec events) for the rows of the others.
  for (const char* name : {"process", "sched", "syscalls", "block", "net"}) {
    if (auto st = runner.start(name, sources::SourceOptions{}); st)
      running++;
    else
      fprintf(stderr, "sightline top: %s\n", st.message().c_str());
  }
  if (!running) return 1;

  agent::TopSort sort = args.sort == "syscalls" ? agent::TopSort::kSyscalls
                        : args.sort == "runq"   ? agent::TopSort::kRunq
                        : args.sort == "disk"   ? agent::TopSort::kDisk
                        : args.sort == "net"    ? agent::TopSort::kNet
                                                : agent::TopSort::kCpu;
  bool screen = !args.once && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  size_t limit = args.limit;
  if (screen && limit == 0) {
    winsize ws{};
    limit = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4 ? ws.ws_row - 3 : 20;
  }
  if (limit == 0) limit = 20;

  auto snapshot = [&] {
    runner.drain();  // exec/exit events: the names of processes gone before this collect
    runner.collect_all();
    std::vector<core::MetricFamily> families;
    runner.visit_metrics([&](const core::MetricFamily& f) { families.push_back(f); });
    return families;
  };
  agent::TopModel model;
  model.update(snapshot(), 0);
  auto last = std::chrono::steady_clock::now();
  std::unique_ptr<RawTerminal> raw;
  if (screen) raw = std::make_unique<RawTerminal>();
  if (screen) render_text({}, sort, args.interval_s, true);

  while (!g_stop.load()) {
    auto next = last + std::chrono::duration<double>(args.interval_s);
    int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       next - std::chrono::steady_clock::now())
                                       .count());
    if (wait_ms > 0) {
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      if (screen && poll(&pfd, 1, wait_ms) > 0) {
        char key = 0;
        if (read(STDIN_FILENO, &key, 1) == 1) {
          if (key == 'q' || key == 'Q') break;
          if (key == 'c') sort = agent::TopSort::kCpu;
          if (key == 's') sort = agent::TopSort::kSyscalls;
          if (key == 'r') sort = agent::TopSort::kRunq;
          if (key == 'd') sort = agent::TopSort::kDisk;
          if (key == 'n') sort = agent::TopSort::kNet;
          if (model.ready()) render_text(model.rows(sort, limit), sort, args.interval_s, true);
        }
        continue;
      }
      if (!screen) {
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
        continue;
      }
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    model.update(snapshot(), std::chrono::duration<double>(now - last).count());
    last = now;
    auto rows = model.rows(sort, limit);
    if (args.json)
      render_json(rows, args.interval_s);
    else
      render_text(rows, sort, args.interval_s, screen);
    if (args.once) break;
  }
  raw.reset();
  runner.stop_all();
  return 0;
}

}  // namespace sightline::cli
