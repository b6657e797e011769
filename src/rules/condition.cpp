#include "rules/condition.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "core/render.h"
#include "core/schema.h"
#include "core/syscalls.h"
#include "symbols/elf_symbols.h"

namespace sightline::rules {

namespace {

constexpr size_t kKinds = static_cast<size_t>(core::EventKind::kCount);

enum class Derived {
  kNone, kCmdline, kAname, kAnameN, kDirectory, kFilename, kUserName, kRnet, kDnsLabelLen, kDnsEntropy,
  kAbsPath, kIsOpenRead, kIsOpenWrite, kIsOpenExec, kTypechar, kRes, kNum, kDir, kEitherIp, kEitherNet, kSip, kSport,
  kSnet, kCip, kCport, kSipName, kConnected, kNameChanged, kCmdArgs, kExe, kPexe, kPexepath, kPcmdline, kCwd, kTty,
  kDuration, kExeMemfd, kExeUpper, kCapEff, kLoginUid, kImage, kImageRepo, kImageTag, kPrivileged, kK8sNs, kK8sPod,
  kPtraceReq, kSockDomain
};

struct DerivedDef {
  const char* name;
  Derived d;
  const char* doc;
  bool numeric = false;
  const char* kinds_field = nullptr;  // the kinds that have it: those with this schema field (nullptr: all)
};
constexpr DerivedDef kDerived[] = {
    {"proc.cmdline", Derived::kCmdline, "name and arguments (exec: argv[1..])"},
    {"proc.aname", Derived::kAname, "any ancestor's name; proc.aname[N]: the Nth (1: parent)"},
    {"fd.directory", Derived::kDirectory, "directory part of fd.abspath", false, "fd.name"},
    {"fd.filename", Derived::kFilename, "last component of fd.name", false, "fd.name"},
    {"user.name", Derived::kUserName, "user name of user.uid"},
    {"fd.rnet", Derived::kRnet, "the remote address, compared with networks: fd.rnet in (10.0.0.0/8, fd00::/8)", false, "fd.rip"},
    {"dns.label_len", Derived::kDnsLabelLen, "DNS requests: the length of the name's longest label (tunnels carry data in long ones)",
     true, "l7.protocol"},
    {"dns.entropy", Derived::kDnsEntropy,
     "DNS requests: the Shannon entropy of the name's longest label, in hundredths of a bit per character "
     "(random-looking, generated names score high)", true, "l7.protocol"},
    {"fd.abspath", Derived::kAbsPath,
     "fd.name made absolute (a relative path joined to the process's cwd or directory fd) with . and .. folded "
     "(Falco's fd.name)", false, "fd.name"},
    {"evt.is_open_read", Derived::kIsOpenRead, "open: opened for reading (O_RDONLY or O_RDWR)", false, "evt.arg.flags"},
    {"evt.is_open_write", Derived::kIsOpenWrite, "open: opened for writing (O_WRONLY or O_RDWR)", false, "evt.arg.flags"},
    {"evt.is_open_exec", Derived::kIsOpenExec, "open: created with an execute bit in its mode", false, "evt.arg.flags"},
    {"fd.typechar", Derived::kTypechar,
     "the descriptor's type as one character: f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, o other", false, "fd.num"},
    {"evt.res", Derived::kRes, "SUCCESS, or the errno name of a failure (ENOENT ...)", false, "evt.rawres"},
    {"evt.num", Derived::kNum, "the event's number in the rule engine's stream (1, 2, ...)", true},
    {"evt.dir", Derived::kDir, "always < (Sightline sees syscalls at their exit)"},
    {"fd.ip", Derived::kEitherIp, "either end's address: = and in match when one end does, != when neither does", false, "fd.rip"},
    {"fd.net", Derived::kEitherNet, "either end's address, compared with networks (as fd.ip)", false, "fd.rip"},
    {"fd.sip", Derived::kSip, "the server end's address (remote for a connect, local for an accept)", false, "fd.rip"},
    {"fd.sport", Derived::kSport, "the server end's port", true, "fd.rip"},
    {"fd.snet", Derived::kSnet, "the server end's address, compared with networks", false, "fd.rip"},
    {"fd.cip", Derived::kCip, "the client end's address", false, "fd.rip"},
    {"fd.cport", Derived::kCport, "the client end's port", true, "fd.rip"},
    {"fd.sip.name", Derived::kSipName, "the server end's DNS name (learnt from answers), when it is the remote end", false, "fd.rip"},
    {"fd.connected", Derived::kConnected, "syscalls on sockets: the socket has a remote end", false, "syscall.name"},
    {"fd.name_changed", Derived::kNameChanged, "syscalls: the call gave the socket its ends (connect, accept)", false, "syscall.name"},
    {"proc.cmdargs", Derived::kCmdArgs, "the arguments without argv[0], space-separated (Falco's proc.args)"},
    {"proc.exe", Derived::kExe, "argv[0] as the process was started (proc.exepath: the file)"},
    {"proc.pexe", Derived::kPexe, "the parent's argv[0]"},
    {"proc.pexepath", Derived::kPexepath, "the parent's executable path"},
    {"proc.pcmdline", Derived::kPcmdline, "the parent's name and arguments"},
    {"proc.cwd", Derived::kCwd, "the process's working directory (/proc, when asked)"},
    {"proc.tty", Derived::kTty, "the controlling terminal's device number, 0 without one (/proc, when asked)", true},
    {"proc.duration", Derived::kDuration, "exit: the process's lifetime; other events: its age at the event (ns)", true},
    {"proc.is_exe_from_memfd", Derived::kExeMemfd, "the executable is a memfd (fileless execution)"},
    {"proc.is_exe_upper_layer", Derived::kExeUpper,
     "the executable is in an overlay mount's upper layer: written after the container started (/proc, when asked)"},
    {"thread.cap_effective", Derived::kCapEff, "effective capabilities: CAP_CHOWN CAP_SYS_ADMIN ... (/proc, when asked)"},
    {"user.loginuid", Derived::kLoginUid, "the audit login uid (-1: none)", true},
    {"container.image", Derived::kImage, "the container's image as its runtime names it (docker, containerd, CRI-O files)"},
    {"container.image.repository", Derived::kImageRepo, "container.image without its tag or digest"},
    {"container.image.tag", Derived::kImageTag, "container.image's tag"},
    {"container.privileged", Derived::kPrivileged,
     "the container is privileged: as its runtime says (docker), else its process holds CAP_SYS_ADMIN (which "
     "no unprivileged container has by default)"},
    {"k8s.ns.name", Derived::kK8sNs, "the pod's Kubernetes namespace (from the runtime's annotations or labels)"},
    {"k8s.pod.name", Derived::kK8sPod, "the pod's name (from the runtime's annotations or labels)"},
    {"evt.arg.request", Derived::kPtraceReq, "ptrace: the request by name (PTRACE_ATTACH ...)", false, "syscall.name"},
    {"evt.arg.domain", Derived::kSockDomain, "socket: the domain by name (AF_PACKET ...)", false, "syscall.name"},
};

// Falco's names for fields that are ours under another name (in Falco's dialect only).
constexpr std::pair<const char*, const char*> kFalcoAliases[] = {
    {"fd.name", "fd.abspath"},          {"fd.nameraw", "fd.name"},          {"proc.args", "proc.cmdargs"},
    {"evt.arg.target", "syscall.path"}, {"evt.arg.linkpath", "syscall.target"}, {"evt.arg.oldpath", "syscall.path"},
    {"evt.arg.newpath", "syscall.target"}, {"evt.arg.path", "syscall.path"}, {"evt.arg.name", "syscall.path"},
    {"evt.arg.res", "evt.rawres"},      {"evt.arg.fd", "fd.num"},
};

// The longest label of a DNS name and its entropy (hundredths of a bit per character).
void dns_label_stats(std::string_view name, int64_t* len, int64_t* entropy) {
  std::string_view best;
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.size() > best.size()) best = label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  *len = static_cast<int64_t>(best.size());
  int counts[256] = {};
  for (unsigned char c : best) counts[std::tolower(c)]++;
  double h = 0;
  for (int c : counts)
    if (c) {
      double p = double(c) / double(best.size());
      h -= p * std::log2(p);
    }
  *entropy = static_cast<int64_t>(h * 100 + 0.5);
}

// An address or network "10.1.0.0/16", "fd00::/8", "1.2.3.4" (a /32): family, bytes, prefix.
struct Cidr {
  int family = 0;
  unsigned char addr[16] = {};
  int prefix = 0;
};
bool parse_cidr(std::string_view text, Cidr* out) {
  std::string s(text);
  size_t slash = s.find('/');
  std::string host = s.substr(0, slash);
  Cidr c;
  if (inet_pton(AF_INET, host.c_str(), c.addr) == 1) c.family = AF_INET, c.prefix = 32;
  else if (inet_pton(AF_INET6, host.c_str(), c.addr) == 1) c.family = AF_INET6, c.prefix = 128;
  else return false;
  if (slash != std::string::npos) {
    char* end;
    long p = strtol(s.c_str() + slash + 1, &end, 10);
    if (*end || slash + 1 == s.size() || p < 0 || p > c.prefix) return false;
    c.prefix = static_cast<int>(p);
  }
  *out = c;
  return true;
}
bool in_network(const Cidr& net, const Cidr& a) {
  if (net.family != a.family) return false;
  int full = net.prefix / 8, rest = net.prefix % 8;
  if (memcmp(net.addr, a.addr, static_cast<size_t>(full)) != 0) return false;
  if (!rest) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (net.addr[full] & mask) == (a.addr[full] & mask);
}

struct FieldRef {
  std::string name;
  Derived derived = Derived::kNone;
  int n = 0;
  std::array<const core::FieldDef*, kKinds> per_kind{};
  bool numeric = false;
  const DerivedDef* def = nullptr;
  std::array<bool, kKinds> has_kind{};  // derived: the kinds it is defined on
};

const core::FieldDef* schema_field(core::EventKind k, std::string_view name) {
  for (const auto& f : core::kind_def(k).fields)
    if (f.name == name) return &f;
  for (const auto& f : core::common_fields())
    if (f.name == name) return &f;
  return nullptr;
}

bool numeric_type(core::FieldType t) {
  using T = core::FieldType;
  return t == T::kInt || t == T::kUint || t == T::kDuration || t == T::kTime || t == T::kOctal;
}

// Resolves "proc.aname[2]" etc.; false if no such field.
bool resolve(std::string_view name, FieldRef* f) {
  f->name = std::string(name);
  std::string_view base = name;
  if (size_t b = name.find('['); b != std::string_view::npos && name.back() == ']') {
    base = name.substr(0, b);
    std::string idx(name.substr(b + 1, name.size() - b - 2));
    char* end;
    long n = strtol(idx.c_str(), &end, 10);
    if (idx.empty() || *end || n < 1 || n > 32 || base != "proc.aname") return false;
    f->derived = Derived::kAnameN;
    f->n = static_cast<int>(n);
    return true;
  }
  for (const auto& d : kDerived)
    if (base == d.name) {
      f->derived = d.d;
      f->numeric = d.numeric;
      f->def = &d;
      for (size_t k = 0; k < kKinds; k++)
        f->has_kind[k] = !d.kinds_field || schema_field(static_cast<core::EventKind>(k), d.kinds_field);
      return true;
    }
  bool any = false;
  for (size_t k = 0; k < kKinds; k++) {
    f->per_kind[k] = schema_field(static_cast<core::EventKind>(k), name);
    if (f->per_kind[k]) {
      any = true;
      f->numeric = numeric_type(f->per_kind[k]->type);
    }
  }
  return any;
}

// The kinds that carry a field (derived ones: every kind, or those with their schema field).
std::set<core::EventKind> kinds_of(const FieldRef& f) {
  std::set<core::EventKind> out;
  for (size_t k = 0; k < kKinds; k++) {
    auto kind = static_cast<core::EventKind>(k);
    bool has = f.derived == Derived::kNone ? f.per_kind[k] != nullptr
               : f.def && f.def->kinds_field ? schema_field(kind, f.def->kinds_field) != nullptr
                                             : true;
    if (has) out.insert(kind);
  }
  return out;
}

struct Got {
  bool present = false, numeric = false;
  int64_t num = 0;
  std::string_view s;
  std::string own;  // storage when the text is built
};

// fd.name made absolute: the event's path when it is already (the common case, no copy), else
// joined to the cwd or the directory fd as /proc shows them; as given when those are gone.
std::string_view abs_path(const core::Event& e, const Context& ctx, std::string* own) {
  std::string_view p = e.path;
  bool clean = !p.empty() && p[0] == '/' && p.find("/.") == std::string_view::npos && p.find("//") == std::string_view::npos;
  if (clean) return p;
  // Several rules ask for the same event's path: /proc is read once an event.
  thread_local struct {
    const core::Event* e = nullptr;
    uint64_t ts = 0;
    uint32_t pid = 0;
    std::string raw, path;
  } memo;
  if (memo.e == &e && memo.ts == e.ts_boot_ns && memo.pid == e.pid && memo.raw == p) return *own = memo.path, *own;
  std::string base;
  if (p.empty() || p[0] != '/') {
    if (!ctx.proc_file) return p;
    base = e.dirfd == -100 || e.kind != core::EventKind::kOpen ? ctx.proc_file(e.pid, ProcFile::kCwd, 0)
                                                               : ctx.proc_file(e.pid, ProcFile::kFd, e.dirfd);
    if (base.empty() || base[0] != '/') return p;
  }
  *own = absolute_path(base, p);
  memo.e = &e, memo.ts = e.ts_boot_ns, memo.pid = e.pid, memo.raw = p, memo.path = *own;
  return *own;
}

// The server end of a connection is the remote one, unless this side accepted it.
bool server_is_local(const core::Event& e) {
  if (e.kind == core::EventKind::kAccept) return true;
  if (e.kind == core::EventKind::kSyscall) return e.sys_name.starts_with("accept");
  return e.role == 2;  // SL_TCP_SERVER
}

void set_text(Got* g, std::string text) {
  g->own = std::move(text);
  g->s = g->own;
  g->present = true;
  g->numeric = false;
}
void set_bool(Got* g, bool v) {
  g->present = true;
  g->numeric = false;
  g->s = v ? "true" : "false";
}
void set_num(Got* g, int64_t v) {
  g->present = g->numeric = true;
  g->num = v;
}

// argv, NUL-separated: argv[0], and the rest joined by spaces.
std::string_view argv0(std::string_view args) { return args.substr(0, args.find('\0')); }
std::string rest_args(std::string_view args) {
  std::string out;
  size_t first = args.find('\0');
  if (first == std::string_view::npos) return out;
  for (char c : args.substr(first + 1)) out += c ? c : ' ';
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool parent_of(const core::Event& e, const Context& ctx, Context::Process* p) {
  if (!ctx.process) return false;
  uint32_t ppid = e.ppid;
  if (!ppid) {
    Context::Process self;
    if (!ctx.process(e.pid, &self) || !self.ppid) return false;
    ppid = self.ppid;
  }
  return ctx.process(ppid, p);
}

void get_more(const FieldRef& f, const core::Event& e, const Context& ctx, Got* g) {
  using D = Derived;
  using K = core::EventKind;
  auto file = [&](ProcFile what, int arg = 0) { return ctx.proc_file ? ctx.proc_file(e.pid, what, arg) : std::string(); };
  switch (f.derived) {
    case D::kIsOpenRead: if (e.kind == K::kOpen) set_bool(g, (e.flags & 3) == 0 || (e.flags & 3) == 2); return;
    case D::kIsOpenWrite: if (e.kind == K::kOpen) set_bool(g, (e.flags & 3) == 1 || (e.flags & 3) == 2); return;
    case D::kIsOpenExec: if (e.kind == K::kOpen) set_bool(g, (e.flags & 0100) && (e.mode & 0111)); return;
    case D::kTypechar: {
      if (e.kind == K::kOpen) return set_text(g, (e.flags & 0200000) ? "d" : "f");
      if (e.kind != K::kSyscall || e.fd_type.empty()) return;
      static const std::pair<const char*, const char*> kChars[] = {
          {"file", "f"}, {"directory", "d"}, {"ipv4", "4"}, {"ipv6", "6"}, {"unix", "u"}, {"pipe", "p"}};
      const char* c = "o";
      for (const auto& [t, ch] : kChars)
        if (e.fd_type == t) c = ch;
      return set_text(g, c);
    }
    case D::kRes: {
      const core::FieldDef* def = schema_field(e.kind, "evt.rawres");
      if (!def) return;
      int64_t r = def->get(e).i;
      return set_text(g, r >= 0 ? std::string("SUCCESS") : std::string(core::errno_name(static_cast<int>(-r))));
    }
    case D::kNum: if (ctx.event_num) set_num(g, static_cast<int64_t>(ctx.event_num())); return;
    case D::kDir: return set_text(g, "<");
    case D::kSip: case D::kCip: {
      bool local = server_is_local(e) == (f.derived == D::kSip);
      std::string_view a = local ? e.laddr : e.raddr;
      if (a.empty()) return;
      g->present = true, g->numeric = false, g->s = a;
      return;
    }
    case D::kSnet: {
      std::string_view a = server_is_local(e) ? e.laddr : e.raddr;
      if (a.empty()) return;
      g->present = true, g->numeric = false, g->s = a;
      return;
    }
    case D::kSport: case D::kCport:
      if (e.raddr.empty() && e.laddr.empty()) return;
      return set_num(g, (server_is_local(e) == (f.derived == D::kSport)) ? e.lport : e.rport);
    case D::kSipName:
      if (server_is_local(e) || e.rname.empty()) return;
      g->present = true, g->numeric = false, g->s = e.rname;
      return;
    case D::kConnected: if (e.kind == K::kSyscall && !e.fd_type.empty()) set_bool(g, e.rport != 0); return;
    case D::kNameChanged:
      if (e.kind == K::kSyscall) set_bool(g, e.sys_name == "connect" || e.sys_name.starts_with("accept"));
      return;
    case D::kCmdArgs: return set_text(g, rest_args(e.args));
    case D::kExe:
      if (!e.args.empty()) return set_text(g, std::string(argv0(e.args)));
      if (!e.exe.empty()) return set_text(g, std::string(e.exe));
      return;
    case D::kPexe: case D::kPexepath: case D::kPcmdline: {
      Context::Process p;
      if (!parent_of(e, ctx, &p)) return;
      if (f.derived == D::kPexepath) return set_text(g, p.exe);
      if (f.derived == D::kPexe) return set_text(g, p.args.empty() ? p.exe : std::string(argv0(p.args)));
      std::string rest = rest_args(p.args);
      return set_text(g, rest.empty() ? p.comm : p.comm + " " + rest);
    }
    case D::kCwd: { std::string c = file(ProcFile::kCwd); if (!c.empty()) set_text(g, c); return; }
    case D::kTty: { std::string t = file(ProcFile::kTty); if (!t.empty()) set_num(g, strtoll(t.c_str(), nullptr, 10)); return; }
    case D::kLoginUid: { std::string t = file(ProcFile::kLoginUid); if (!t.empty()) set_num(g, strtoll(t.c_str(), nullptr, 10)); return; }
    case D::kCapEff: { std::string c = file(ProcFile::kCapEffective); if (!c.empty()) set_text(g, c); return; }
    case D::kDuration: {
      if (e.kind == K::kExit) return set_num(g, static_cast<int64_t>(e.duration_ns));
      Context::Process p;
      if (ctx.process && ctx.process(e.pid, &p) && p.start_boot_ns && e.ts_boot_ns >= p.start_boot_ns)
        set_num(g, static_cast<int64_t>(e.ts_boot_ns - p.start_boot_ns));
      return;
    }
    case D::kExeMemfd: {
      // An exec of a memfd names it by descriptor (fexecve: /proc/self/fd/N, or execveat with an
      // empty path); /proc then says whether that file is a memfd. The filename check keeps a
      // process that execs a memfd later from making its earlier exec look like one.
      if (e.kind == K::kExec && !(e.path.empty() || e.path.starts_with("/proc/") || e.path.starts_with("/dev/fd/")))
        return set_bool(g, false);
      std::string exe = file(ProcFile::kExeLink);
      if (exe.empty()) exe = std::string(e.exe);
      return set_bool(g, exe.starts_with("/memfd:") || exe.starts_with("memfd:"));
    }
    case D::kExeUpper: {
      std::string v = file(ProcFile::kExeUpperLayer);
      if (!v.empty()) set_bool(g, v == "true");
      return;
    }
    case D::kImage: case D::kImageRepo: case D::kImageTag: case D::kK8sNs: case D::kK8sPod: {
      if (e.container_id.empty() || !ctx.container) return;
      ContainerMeta m = ctx.container(e.container_id);
      std::string repo, tag;
      split_image(m.image, &repo, &tag);
      std::string v = f.derived == D::kImage ? m.image : f.derived == D::kImageRepo ? repo : f.derived == D::kImageTag ? tag
                      : f.derived == D::kK8sNs ? m.ns : m.pod;
      if (!v.empty()) set_text(g, std::move(v));
      return;
    }
    case D::kPrivileged: {
      if (e.container_id.empty()) return set_bool(g, false);
      ContainerMeta m = ctx.container ? ctx.container(e.container_id) : ContainerMeta{};
      if (m.privileged >= 0) return set_bool(g, m.privileged == 1);
      std::string all = file(ProcFile::kCapSysAdmin);
      if (!all.empty()) set_bool(g, all == "true");
      return;
    }
    case D::kPtraceReq: if (e.kind == K::kSyscall && e.sys_name == "ptrace") set_text(g, ptrace_request_name(e.sys_args[0])); return;
    case D::kSockDomain: if (e.kind == K::kSyscall && e.sys_name == "socket") set_text(g, socket_domain_name(e.sys_args[0])); return;
    case D::kEitherIp: case D::kEitherNet:  // evaluated by the operator over both ends
      g->present = true;
      return;
    default: return;
  }
}

void get(const FieldRef& f, const core::Event& e, const Context& ctx, Got* g) {
  g->present = false;
  if (f.def && !f.has_kind[static_cast<size_t>(e.kind)]) return;
  switch (f.derived) {
    case Derived::kNone: {
      const core::FieldDef* def = f.per_kind[static_cast<size_t>(e.kind)];
      if (!def) return;
      core::Value v = def->get(e);
      g->present = true;
      using T = core::FieldType;
      switch (v.type) {
        case T::kInt: g->numeric = true, g->num = v.i; return;
        case T::kUint: case T::kDuration: case T::kTime: case T::kOctal:
          g->numeric = true, g->num = static_cast<int64_t>(v.u);
          return;
        case T::kBool: g->numeric = false, g->s = v.b ? "true" : "false"; return;
        case T::kString: g->numeric = false, g->s = v.s; return;
        default:
          g->numeric = false;
          g->own.clear();
          if (v.type == T::kArgv) {  // space-separated
            for (char c : v.s) g->own += c ? c : ' ';
            while (!g->own.empty() && g->own.back() == ' ') g->own.pop_back();
          } else {
            core::append_value_text(g->own, v);
          }
          g->s = g->own;
          return;
      }
    }
    case Derived::kCmdline: {
      g->present = true;
      g->own.assign(e.comm);
      if (!e.args.empty()) {  // exec: the new argv; others: the process table's
        size_t first = e.args.find('\0');  // skip argv[0]
        if (first != std::string_view::npos)
          for (char c : e.args.substr(first + 1)) g->own += c ? c : ' ';
        if (first != std::string_view::npos && first + 1 < e.args.size()) g->own.insert(e.comm.size(), " ");
        while (!g->own.empty() && g->own.back() == ' ') g->own.pop_back();
      }
      g->s = g->own;
      return;
    }
    case Derived::kAnameN:
      if (!ctx.ancestor) return;
      g->own = ctx.ancestor(e.pid, f.n);
      g->present = !g->own.empty();
      g->s = g->own;
      return;
    case Derived::kAname:  // evaluated by the operator over every ancestor
      g->present = true;
      return;
    case Derived::kDirectory:
    case Derived::kFilename: {
      std::string_view p = abs_path(e, ctx, &g->own);
      size_t slash = p.rfind('/');
      g->present = true;
      if (f.derived == Derived::kFilename) g->s = slash == std::string_view::npos ? p : p.substr(slash + 1);
      else g->s = slash == std::string_view::npos ? std::string_view(".") : slash == 0 ? p.substr(0, 1) : p.substr(0, slash);
      return;
    }
    case Derived::kAbsPath:
      g->present = true;
      g->s = abs_path(e, ctx, &g->own);
      return;
    case Derived::kRnet:
      if (e.raddr.empty()) return;  // tcp events, and syscalls on IP sockets
      g->present = true;
      g->s = e.raddr;
      return;
    case Derived::kDnsLabelLen:
    case Derived::kDnsEntropy: {
      if (e.kind != core::EventKind::kRequest || e.protocol != "dns") return;
      int64_t len, entropy;
      dns_label_stats(e.target, &len, &entropy);
      g->present = g->numeric = true;
      g->num = f.derived == Derived::kDnsLabelLen ? len : entropy;
      return;
    }
    default:
      get_more(f, e, ctx, g);
      return;
    case Derived::kUserName:
      if (!ctx.user_name) return;
      g->own = ctx.user_name(e);
      g->present = !g->own.empty();
      g->s = g->own;
      return;
  }
}

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kContains, kIContains, kStartswith, kEndswith, kGlob, kIn, kPmatch, kIntersects, kExists };

}  // namespace

struct Node {
  enum Type { kAnd, kOr, kNot, kCmp } type;
  std::unique_ptr<Node> a, b;
  FieldRef field;
  Op op = Op::kEq;
  std::vector<std::string> values;
  std::vector<int64_t> nums;  // values as numbers, for numeric fields
  uint32_t kind_mask = 0;     // evt.type = / in / !=: the kinds, compared without text
  int64_t flag_bits = -1;     // open flags `contains O_X`: a bit test (-2: O_RDONLY, access mode 0)
  std::vector<Cidr> nets;     // fd.rnet: the values as networks
  std::unordered_set<std::string> set;  // long `in` lists: one hash lookup
  bool nonempty = false;  // Falco's `exists`: an empty text is no value
  size_t pos = 0;     // where it starts in the text parsed (0-based)
  std::string macro;  // the macro whose text it came from, if any
};

namespace {

bool icontains(std::string_view h, std::string_view n) {
  return std::search(h.begin(), h.end(), n.begin(), n.end(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         }) != h.end();
}

bool cmp_one(const Node& n, const Got& g, size_t i) {
  if (g.numeric && i < n.nums.size()) {
    int64_t x = g.num, y = n.nums[i];
    switch (n.op) {
      case Op::kEq: case Op::kIn: return x == y;
      case Op::kNe: return x != y;
      case Op::kLt: return x < y;
      case Op::kLe: return x <= y;
      case Op::kGt: return x > y;
      case Op::kGe: return x >= y;
      default: break;
    }
  }
  std::string_view s = g.s, v = n.values[i];
  switch (n.op) {
    case Op::kEq: case Op::kIn: case Op::kIntersects: return s == v;
    case Op::kNe: return s != v;
    case Op::kLt: return s < v;
    case Op::kLe: return s <= v;
    case Op::kGt: return s > v;
    case Op::kGe: return s >= v;
    case Op::kContains: return s.find(v) != std::string_view::npos;
    case Op::kIContains: return icontains(s, v);
    case Op::kStartswith: return s.starts_with(v);
    case Op::kEndswith: return s.ends_with(v);
    case Op::kGlob: return symbols::glob_match(v, s);
    case Op::kPmatch:  // path is the prefix dir itself or below it
      return s == v || (s.starts_with(v) && (v.ends_with("/") || s[v.size()] == '/'));
    default: return false;
  }
}

bool eval_cmp(const Node& n, const core::Event& e, const Context& ctx) {
  if (n.flag_bits != -1) {
    const core::FieldDef* def = n.field.per_kind[static_cast<size_t>(e.kind)];
    if (!def) return false;
    uint64_t f = def->get(e).u;
    if (n.flag_bits == -2) return (f & 3) == 0;
    if (n.flag_bits == 1 || n.flag_bits == 2) return (f & 3) == static_cast<uint64_t>(n.flag_bits);
    return (f & static_cast<uint64_t>(n.flag_bits)) == static_cast<uint64_t>(n.flag_bits);
  }
  if (n.kind_mask) {
    bool in = (n.kind_mask >> static_cast<unsigned>(e.kind)) & 1;
    return n.op == Op::kNe ? !in : in;
  }
  if (n.field.derived == Derived::kAname) {  // any ancestor
    if (!ctx.ancestor) return false;
    for (int i = 1; i <= 16; i++) {
      std::string a = ctx.ancestor(e.pid, i);
      if (a.empty()) break;
      Got g;
      g.present = true;
      g.own = std::move(a);
      g.s = g.own;
      if (n.op == Op::kExists) return true;
      for (size_t k = 0; k < n.values.size(); k++)
        if (cmp_one(n, g, k)) return n.op != Op::kNe;
    }
    return n.op == Op::kNe;
  }
  if (n.field.derived == Derived::kEitherIp || n.field.derived == Derived::kEitherNet) {  // either end
    if (n.field.def && !n.field.has_kind[static_cast<size_t>(e.kind)]) return false;
    bool any = false;
    for (std::string_view end : {e.laddr, e.raddr}) {
      if (end.empty()) continue;
      if (n.op == Op::kExists) return true;
      if (!n.nets.empty()) {
        Cidr a;
        if (!parse_cidr(end, &a)) continue;
        for (const auto& net : n.nets) any |= in_network(net, a);
      } else {
        Got g;
        g.present = true;
        g.s = end;
        for (size_t k = 0; k < n.values.size(); k++) any |= cmp_one(n, g, k) != (n.op == Op::kNe);
      }
    }
    if (n.op == Op::kExists) return false;
    return n.op == Op::kNe ? !any : any;
  }
  Got g;
  get(n.field, e, ctx, &g);
  if (n.op == Op::kExists) return g.present && (!n.nonempty || g.numeric || !g.s.empty());
  if (!g.present) return false;
  if (!n.nets.empty()) {  // fd.rnet = / in / !=
    Cidr a;
    if (!parse_cidr(g.s, &a)) return false;
    bool any = false;
    for (const auto& net : n.nets) any |= in_network(net, a);
    return n.op == Op::kNe ? !any : any;
  }
  if (!n.set.empty()) return n.set.count(std::string(g.s)) > 0;
  if (n.op == Op::kIn || n.op == Op::kPmatch || n.op == Op::kIntersects) {
    for (size_t k = 0; k < n.values.size(); k++)
      if (cmp_one(n, g, k)) return true;
    return false;
  }
  return cmp_one(n, g, 0);
}

bool eval(const Node& n, const core::Event& e, const Context& ctx) {
  switch (n.type) {
    case Node::kAnd: return eval(*n.a, e, ctx) && eval(*n.b, e, ctx);
    case Node::kOr: return eval(*n.a, e, ctx) || eval(*n.b, e, ctx);
    case Node::kNot: return !eval(*n.a, e, ctx);
    case Node::kCmp: return eval_cmp(n, e, ctx);
  }
  return false;
}

// Kinds a node can match: AND intersects, OR unites, NOT and evt.type != keep everything that
// has the fields.
std::set<core::EventKind> kinds_of(const Node& n) {
  auto all = [] {
    std::set<core::EventKind> s;
    for (size_t k = 0; k < kKinds; k++) s.insert(static_cast<core::EventKind>(k));
    return s;
  };
  switch (n.type) {
    case Node::kAnd: {
      auto a = kinds_of(*n.a), b = kinds_of(*n.b), out = std::set<core::EventKind>{};
      for (auto k : a)
        if (b.count(k)) out.insert(k);
      return out;
    }
    case Node::kOr: {
      auto a = kinds_of(*n.a);
      for (auto k : kinds_of(*n.b)) a.insert(k);
      return a;
    }
    case Node::kNot: return all();
    case Node::kCmp:
      if (n.field.name == "evt.type" && (n.op == Op::kEq || n.op == Op::kIn)) {
        std::set<core::EventKind> out;
        for (const auto& v : n.values)
          if (const auto* k = core::find_kind(v)) out.insert(k->kind);
        return out;
      }
      return kinds_of(n.field);
  }
  return all();
}

class Parser {
 public:
  Parser(std::string_view text, const std::map<std::string, std::string>& macros,
         const std::map<std::string, std::vector<std::string>>& lists, std::set<std::string>* expanding,
         const ParseOptions& opts)
      : t_(text), macros_(macros), lists_(lists), expanding_(expanding), opts_(opts) {}

  core::Status parse(std::unique_ptr<Node>* out) {
    auto n = expr();
    if (!err_.empty()) return core::Status::error(EINVAL, err_);
    skip();
    if (pos_ < t_.size()) {
      fail("unexpected '" + std::string(word_at(pos_)) + "'");
      return core::Status::error(EINVAL, err_);
    }
    *out = std::move(n);
    return {};
  }

 private:
  void fail(const std::string& m) {
    if (err_.empty()) err_ = "column " + std::to_string(pos_ + 1) + ": " + m;
  }
  void skip() {
    while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_]))) pos_++;
  }
  static bool word_char(char c) {
    return !std::isspace(static_cast<unsigned char>(c)) && c != '(' && c != ')' && c != ',' && c != '=' &&
           c != '<' && c != '>' && c != '!' && c != '"' && c != '\'';
  }
  std::string_view word_at(size_t p) const {
    size_t e = p;
    while (e < t_.size() && word_char(t_[e])) e++;
    return t_.substr(p, std::max<size_t>(e - p, std::min<size_t>(1, t_.size() - p)));
  }
  bool keyword(std::string_view k) {
    skip();
    if (t_.substr(pos_).starts_with(k) && (pos_ + k.size() == t_.size() || !word_char(t_[pos_ + k.size()]))) {
      pos_ += k.size();
      return true;
    }
    return false;
  }
  static void mark_macro(Node* n, const std::string& name) {
    if (!n) return;
    if (n->macro.empty()) n->macro = name;  // the outermost macro names it
    mark_macro(n->a.get(), name);
    mark_macro(n->b.get(), name);
  }
  std::unique_ptr<Node> bin(Node::Type t, std::unique_ptr<Node> a, std::unique_ptr<Node> b) {
    auto n = std::make_unique<Node>();
    n->pos = a ? a->pos : pos_;
    n->type = t;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  std::unique_ptr<Node> expr() {
    auto a = and_expr();
    while (err_.empty() && keyword("or")) a = bin(Node::kOr, std::move(a), and_expr());
    return a;
  }
  std::unique_ptr<Node> and_expr() {
    auto a = not_expr();
    while (err_.empty() && keyword("and")) a = bin(Node::kAnd, std::move(a), not_expr());
    return a;
  }
  std::unique_ptr<Node> not_expr() {
    if (!err_.empty()) return nullptr;
    if (++depth_ > 200) return fail("nested too deep"), nullptr;
    struct D { int& d; ~D() { d--; } } guard{depth_};
    if (keyword("not")) return bin(Node::kNot, not_expr(), nullptr);
    skip();
    if (pos_ < t_.size() && t_[pos_] == '(') {
      pos_++;
      auto n = expr();
      skip();
      if (pos_ >= t_.size() || t_[pos_] != ')') return fail("expected ')'"), nullptr;
      pos_++;
      return n;
    }
    return primary();
  }
  bool value(std::string* out) {
    skip();
    if (pos_ >= t_.size()) return false;
    char q = t_[pos_];
    if (q == '"' || q == '\'') {  // a backslash escapes the quote or itself
      std::string v;
      size_t i = pos_ + 1;
      for (; i < t_.size() && t_[i] != q; i++) {
        if (t_[i] == '\\' && i + 1 < t_.size() && (t_[i + 1] == q || t_[i + 1] == '\\')) i++;
        v += t_[i];
      }
      if (i >= t_.size()) return fail("unterminated string"), false;
      *out = std::move(v);
      pos_ = i + 1;
      return true;
    }
    size_t start = pos_;
    while (pos_ < t_.size() && word_char(t_[pos_])) pos_++;
    if (pos_ == start && (t_[pos_] == '<' || t_[pos_] == '>')) pos_++;  // Falco's evt.dir = <
    if (pos_ == start) return false;
    *out = std::string(t_.substr(start, pos_ - start));
    return true;
  }
  bool list(std::vector<std::string>* out) {
    skip();
    if (pos_ < t_.size() && t_[pos_] == '(') {
      pos_++;
      skip();
      if (pos_ < t_.size() && t_[pos_] == ')') return pos_++, true;  // ()
      for (;;) {
        std::string v;
        if (!value(&v)) return fail("expected a value in the list"), false;
        expand(v, out, 0);
        skip();
        if (pos_ < t_.size() && t_[pos_] == ',') {
          pos_++;
          continue;
        }
        if (pos_ < t_.size() && t_[pos_] == ')') return pos_++, true;
        return fail("expected ',' or ')' in the list"), false;
      }
    }
    std::string name;
    size_t at = pos_;
    if (!value(&name)) return fail("expected a list: (a, b) or a list name"), false;
    auto it = lists_.find(name);
    if (it == lists_.end()) return pos_ = at, fail("no list named '" + name + "'"), false;
    expand(name, out, 0);
    return true;
  }
  // A value, or a list's items with the lists among them expanded in turn (Falco's lists name
  // other lists: protected_shell_spawning_binaries holds http_server_binaries ...).
  void expand(const std::string& v, std::vector<std::string>* out, int depth) {
    auto it = lists_.find(v);
    if (it == lists_.end() || depth > 16) return out->push_back(unquote(v));
    for (const auto& item : it->second) {
      if (out->size() > 65536) return fail("list '" + v + "' expands to more than 65536 items (a list within itself?)");
      expand(item, out, depth + 1);
    }
  }
  // A list item written with quotes in the YAML ('"(systemd)"', as Falco's files do) is the text
  // inside them.
  static std::string unquote(const std::string& v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) return v.substr(1, v.size() - 2);
    return v;
  }
  std::unique_ptr<Node> primary() {
    skip();
    size_t at = pos_;
    std::string name;
    while (pos_ < t_.size() && (word_char(t_[pos_]) || t_[pos_] == '[' || t_[pos_] == ']')) pos_++;
    name = std::string(t_.substr(at, pos_ - at));
    if (name.empty()) return fail(pos_ < t_.size() ? "unexpected '" + std::string(1, t_[pos_]) + "'" : "unexpected end"), nullptr;
    if (auto m = macros_.find(name); m != macros_.end()) {
      if (expanding_->count(name)) return pos_ = at, fail("macro '" + name + "' refers to itself"), nullptr;
      expanding_->insert(name);
      ParseOptions sub_opts = opts_;
      sub_opts.falco = opts_.falco_macros && opts_.falco_macros->count(name);
      Parser sub(m->second, macros_, lists_, expanding_, sub_opts);
      std::unique_ptr<Node> n;
      auto st = sub.parse(&n);
      expanding_->erase(name);
      if (!st) return pos_ = at, fail("in macro '" + name + "': " + st.message()), nullptr;
      mark_macro(n.get(), name);
      if (n) n->pos = at;
      return n;
    }
    if (opts_.falco) name = std::string(falco_field(name));
    auto n = std::make_unique<Node>();
    n->type = Node::kCmp;
    n->pos = at;
    if (!resolve(name, &n->field)) {
      pos_ = at;
      std::string near = nearest_field(name);
      return fail("unknown field or macro '" + name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?")), nullptr;
    }
    skip();
    static const std::pair<const char*, Op> ops[] = {
        {"==", Op::kEq}, {"=", Op::kEq}, {"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe}, {"<", Op::kLt},
        {">", Op::kGt}, {"icontains", Op::kIContains}, {"contains", Op::kContains}, {"startswith", Op::kStartswith},
        {"endswith", Op::kEndswith}, {"glob", Op::kGlob}, {"intersects", Op::kIntersects}, {"in", Op::kIn},
        {"pmatch", Op::kPmatch}, {"exists", Op::kExists}};
    bool found = false;
    for (const auto& [word, op] : ops) {
      std::string_view w(word);
      bool alpha = std::isalpha(static_cast<unsigned char>(w[0]));
      if (alpha ? keyword(w) : t_.substr(pos_).starts_with(w)) {
        if (!alpha) pos_ += w.size();
        n->op = op;
        found = true;
        break;
      }
    }
    if (!found) return fail("expected an operator after '" + name + "' (= != < <= > >= contains icontains "
                            "startswith endswith glob in intersects pmatch exists)"), nullptr;
    n->nonempty = opts_.falco;
    if (n->op == Op::kExists) return n;
    if (n->op == Op::kIn || n->op == Op::kPmatch || n->op == Op::kIntersects) {
      if (!list(&n->values)) return nullptr;
    } else {
      std::string v;
      if (!value(&v)) return fail("expected a value after the operator"), nullptr;
      n->values.push_back(std::move(v));
    }
    if (n->field.numeric) {
      for (const auto& v : n->values) {
        char* end;
        errno = 0;
        long long x = strtoll(v.c_str(), &end, 0);
        if (v.empty() || *end || errno) return fail("'" + v + "' is not a number (" + name + " is numeric)"), nullptr;
        n->nums.push_back(x);
      }
    }
    if (opts_.falco && n->field.name == "container.id")  // Falco names the host "host"
      for (auto& v : n->values)
        if (v == "host") v.clear();
    if (opts_.falco && n->field.name == "evt.type" && (n->op == Op::kEq || n->op == Op::kIn || n->op == Op::kNe))
      return falco_evt_type(std::move(n));
    if (n->field.name == "evt.type") {
      for (const auto& v : n->values) {
        const auto* k = core::find_kind(v);
        if (!k) return fail("no event type '" + v + "'"), nullptr;
        if (n->op == Op::kEq || n->op == Op::kIn || n->op == Op::kNe) n->kind_mask |= 1u << static_cast<unsigned>(k->kind);
      }
    }
    // "evt.arg.flags contains O_WRONLY": a bit test, the bit found through the one flag table
    // (core::append_open_flags) rather than a second copy of it.
    bool flags_field = false;
    for (const auto* d : n->field.per_kind) flags_field |= d && d->type == core::FieldType::kOpenFlags;
    if (flags_field && n->op == Op::kContains && n->values.size() == 1) {
      const std::string& want = n->values[0];
      if (want == "O_RDONLY") n->flag_bits = -2;
      for (int b = 0; b < 32 && n->flag_bits == -1 && want != "O_RDONLY"; b++) {
        std::string text;
        core::append_open_flags(text, 1ULL << b);
        if (text == want || text == "O_RDONLY|" + want) n->flag_bits = static_cast<int64_t>(1ULL << b);
      }
    }
    if (n->field.derived == Derived::kRnet || n->field.derived == Derived::kEitherNet || n->field.derived == Derived::kSnet) {
      if (n->op != Op::kEq && n->op != Op::kIn && n->op != Op::kNe)
        return fail(n->field.name + " takes =, != or in (networks)"), nullptr;
      for (const auto& v : n->values) {
        Cidr c;
        if (!parse_cidr(v, &c)) return fail("'" + v + "' is not an address or network (10.0.0.0/8, fd00::/8)"), nullptr;
        n->nets.push_back(c);
      }
    }
    // A long list of strings: a hash set (numbers keep their compare).
    if ((n->op == Op::kIn || n->op == Op::kIntersects) && !n->field.numeric && n->values.size() > 6)
      n->set.insert(n->values.begin(), n->values.end());
    return n;
  }

  // Falco's evt.type names syscalls: each becomes the event kind that reports it, and where a
  // kind reports several, the syscall's name too (open + evt.syscall = openat; syscall +
  // syscall.name = connect). Syscalls no source reports stay as syscall.name tests: they never
  // match, and `rules validate` says so.
  std::unique_ptr<Node> falco_evt_type(std::unique_ptr<Node> n) {
    struct Map {
      const char* name;
      core::EventKind kind;
      const char* field;  // the field that tells the syscall apart, or nullptr
    };
    using K = core::EventKind;
    static const Map kMap[] = {
        {"execve", K::kExec, nullptr},  {"execveat", K::kExec, nullptr}, {"open", K::kOpen, "evt.syscall"},
        {"openat", K::kOpen, "evt.syscall"}, {"openat2", K::kOpen, "evt.syscall"}, {"creat", K::kOpen, "evt.syscall"},
        {"fork", K::kFork, nullptr},    {"vfork", K::kFork, nullptr},    {"procexit", K::kExit, nullptr},
        {"kill", K::kSignal, nullptr},  {"tkill", K::kSignal, nullptr},  {"tgkill", K::kSignal, nullptr},
        {"stat", K::kStat, "evt.syscall"}, {"lstat", K::kStat, "evt.syscall"}, {"newfstatat", K::kStat, "evt.syscall"},
        {"statx", K::kStat, "evt.syscall"}, {"statfs", K::kStat, "evt.syscall"}};
    auto cmp = [&](const std::string& field, const std::string& value) {
      auto c = std::make_unique<Node>();
      c->type = Node::kCmp;
      c->pos = n->pos;
      resolve(field, &c->field);
      c->values.push_back(value);
      return c;
    };
    // Per kind, in the order first named: the syscalls that tell it apart (none: the whole kind).
    std::vector<std::pair<core::EventKind, const char*>> kinds;
    std::map<core::EventKind, std::vector<std::string>> names;
    std::set<core::EventKind> whole;
    for (const auto& v : n->values) {
      core::EventKind kind = K::kSyscall;
      const char* field = "syscall.name";
      bool found = false;
      for (const auto& m : kMap)
        if (v == m.name) kind = m.kind, field = m.field, found = true;
      if (!found && core::syscall_number(v) < 0) {  // not a syscall: one of our kinds?
        const auto* k = core::find_kind(v);
        if (!k) return pos_ = n->pos, fail("no syscall or event type '" + v + "'"), nullptr;
        kind = k->kind, field = nullptr;
      }
      if (!names.count(kind) && !whole.count(kind)) kinds.push_back({kind, field});
      if (field) names[kind].push_back(v);
      else whole.insert(kind);
    }
    std::unique_ptr<Node> out;
    for (const auto& [kind, field] : kinds) {
      auto k = cmp("evt.type", std::string(core::kind_def(kind).name));
      k->kind_mask = 1u << static_cast<unsigned>(kind);
      std::unique_ptr<Node> one = std::move(k);
      if (!whole.count(kind)) {  // one test of the syscall's name: = or in
        auto c = cmp(field, names[kind][0]);
        c->values = names[kind];
        c->op = c->values.size() > 1 ? Op::kIn : Op::kEq;
        one = bin(Node::kAnd, std::move(one), std::move(c));
      }
      out = out ? bin(Node::kOr, std::move(out), std::move(one)) : std::move(one);
    }
    if (!out) return fail("expected an event type"), nullptr;
    return n->op == Op::kNe ? bin(Node::kNot, std::move(out), nullptr) : std::move(out);
  }

  std::string_view t_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string err_;
  const std::map<std::string, std::string>& macros_;
  const std::map<std::string, std::vector<std::string>>& lists_;
  std::set<std::string>* expanding_;
  ParseOptions opts_;
};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

Condition::Condition() = default;
Condition::~Condition() = default;
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;

core::Status Condition::parse(std::string_view text, const std::map<std::string, std::string>& macros,
                              const std::map<std::string, std::vector<std::string>>& lists, Condition* out,
                              const ParseOptions& opts) {
  std::set<std::string> expanding;
  Parser p(text, macros, lists, &expanding, opts);
  std::unique_ptr<Node> root;
  if (auto st = p.parse(&root); !st) return st;
  out->root_ = std::move(root);
  out->kinds_ = kinds_of(*out->root_);
  return {};
}

bool Condition::matches(const core::Event& e, const Context& ctx) const { return root_ && eval(*root_, e, ctx); }

namespace {
// nullopt-like: false = unconstrained.
bool required(const Node& n, std::string_view field, std::set<std::string>* out) {
  switch (n.type) {
    case Node::kCmp:
      if (n.field.name != field || (n.op != Op::kEq && n.op != Op::kIn)) return false;
      out->insert(n.values.begin(), n.values.end());
      return true;
    case Node::kAnd: {
      std::set<std::string> a, b;
      bool ha = required(*n.a, field, &a), hb = required(*n.b, field, &b);
      if (ha && hb) {
        for (const auto& v : a)
          if (b.count(v)) out->insert(v);
      } else if (ha || hb) {
        out->insert((ha ? a : b).begin(), (ha ? a : b).end());
      }
      return ha || hb;
    }
    case Node::kOr: {
      std::set<std::string> a, b;
      if (!required(*n.a, field, &a) || !required(*n.b, field, &b)) return false;
      out->insert(a.begin(), a.end());
      out->insert(b.begin(), b.end());
      return true;
    }
    case Node::kNot: return false;
  }
  return false;
}
}  // namespace

namespace {
const char* op_text(Op op) {
  switch (op) {
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kContains: return "contains";
    case Op::kIContains: return "icontains";
    case Op::kStartswith: return "startswith";
    case Op::kEndswith: return "endswith";
    case Op::kGlob: return "glob";
    case Op::kIn: return "in";
    case Op::kPmatch: return "pmatch";
    case Op::kIntersects: return "intersects";
    case Op::kExists: return "exists";
  }
  return "?";
}

size_t column_of(const Node& n) { return n.macro.empty() ? n.pos + 1 : 0; }

// Comparisons joined by `or`, all on one field: their alternatives (false otherwise).
bool alternatives(const Node& n, std::string* field, std::vector<Term::Alt>* out) {
  if (n.type == Node::kOr) return alternatives(*n.a, field, out) && alternatives(*n.b, field, out);
  if (n.type != Node::kCmp) return false;
  if (!field->empty() && *field != n.field.name) return false;
  *field = n.field.name;
  out->push_back({op_text(n.op), n.values});
  return true;
}

bool flatten(const Node& n, bool negated, std::vector<Term>* out, std::string* why, size_t* column) {
  if (n.type == Node::kNot) return flatten(*n.a, !negated, out, why, column);
  if ((n.type == Node::kAnd && !negated) || (n.type == Node::kOr && negated))  // and; not (a or b)
    return flatten(*n.a, negated, out, why, column) && flatten(*n.b, negated, out, why, column);
  Term t;
  if (!alternatives(n, &t.field, &t.alts)) {
    *why = negated ? "`not` over an `and`" : "`or` over comparisons of different fields";
    if (!n.macro.empty()) *why += " (in macro '" + n.macro + "')";
    *column = column_of(n);
    return false;
  }
  t.negated = negated;
  t.column = column_of(n);
  t.macro = n.macro;
  out->push_back(std::move(t));
  return true;
}
}  // namespace

bool Condition::conjunction(std::vector<Term>* out, std::string* why, size_t* column) const {
  out->clear();
  *column = 0;
  if (!root_) return *why = "empty condition", false;
  return flatten(*root_, false, out, why, column);
}

bool Condition::required_values(std::string_view field, std::set<std::string>* out) const {
  return root_ && required(*root_, field, out);
}

bool field_text(std::string_view name, const core::Event& e, const Context& ctx, std::string* out) {
  FieldRef f;
  if (!resolve(name, &f)) return false;
  out->clear();
  if (f.derived == Derived::kAname) {
    for (int i = 1; ctx.ancestor && i <= 16; i++) {
      std::string a = ctx.ancestor(e.pid, i);
      if (a.empty()) break;
      *out += (out->empty() ? "" : ",") + a;
    }
    return true;
  }
  Got g;
  get(f, e, ctx, &g);
  if (!g.present) return true;
  *out = g.numeric ? std::to_string(g.num) : std::string(g.s);
  return true;
}

bool parse_network16(std::string_view text, unsigned char addr[16], int* prefix) {
  Cidr c;
  if (!parse_cidr(text, &c)) return false;
  memset(addr, 0, 16);
  if (c.family == AF_INET) {
    addr[10] = addr[11] = 0xff;
    memcpy(addr + 12, c.addr, 4);
    *prefix = 96 + c.prefix;
  } else {
    memcpy(addr, c.addr, 16);
    *prefix = c.prefix;
  }
  return true;
}

std::string_view falco_field(std::string_view name) {
  for (const auto& [falco, ours] : kFalcoAliases)
    if (name == falco) return ours;
  return name;
}

void walk_output(std::string_view t, const std::function<void(std::string_view)>& text,
                 const std::function<void(std::string_view, std::string_view)>& field) {
  for (size_t i = 0; i < t.size();) {
    if (t[i] != '%') {
      size_t next = t.find('%', i);
      text(t.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i));
      i = next == std::string_view::npos ? t.size() : next;
      continue;
    }
    size_t j = i + 1;
    while (j < t.size() && (std::isalnum(static_cast<unsigned char>(t[j])) || t[j] == '.' || t[j] == '_' ||
                            t[j] == '[' || t[j] == ']'))
      j++;
    field(t.substr(i + 1, j - i - 1), t.substr(i, j - i));
    i = j;
  }
}

std::string falco_output(std::string_view t) {
  std::string out;
  walk_output(
      t, [&](std::string_view text) { out += text; },
      [&](std::string_view name, std::string_view) {
        name = falco_field(name);
        FieldRef f;
        if (name.empty() || resolve(name, &f)) {
          out += '%';
          out += name;
        } else {
          out += "<NA>";  // a Falco field no event here has (proc.sname, container.start_ts ...)
        }
      });
  return out;
}

std::vector<DerivedField> derived_fields() {
  std::vector<DerivedField> out;
  for (const auto& d : kDerived) out.push_back({d.name, d.doc, d.kinds_field ? d.kinds_field : ""});
  return out;
}

std::vector<std::string> all_field_names() {
  std::set<std::string> names;
  for (const auto& f : core::common_fields()) names.insert(std::string(f.name));
  for (const auto& k : core::kinds())
    for (const auto& f : k.fields) names.insert(std::string(f.name));
  for (const auto& d : kDerived) names.insert(d.name);
  return {names.begin(), names.end()};
}

std::string nearest_field(std::string_view name) {
  std::string best;
  size_t best_d = 4;  // further than this is no suggestion
  for (const auto& f : all_field_names()) {
    size_t d = edit_distance(name, f);
    if (d < best_d) best_d = d, best = f;
  }
  return best;
}

}  // namespace sightline::rules
