// Facts about a process or container that no event carries and a rule may ask for (Falco's
// proc.cwd, proc.tty, thread.cap_effective, proc.is_exe_upper_layer, container.image ...): read
// from /proc and the container runtimes' own files when a rule's condition reaches them, never
// on the path of events no rule asks about. A process gone by then has no such facts.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace sightline::rules {

enum class ProcFile {
  kCwd,            // /proc/PID/cwd
  kFd,             // /proc/PID/fd/ARG: what a descriptor (a directory fd) names
  kTty,            // tty_nr of /proc/PID/stat, as a number
  kCapEffective,   // CapEff of /proc/PID/status, as "CAP_CHOWN CAP_DAC_OVERRIDE ..."
  kCapSysAdmin,    // "true" when CapEff holds CAP_SYS_ADMIN (what makes a container privileged in effect)
  kLoginUid,       // /proc/PID/loginuid (4294967295: unset, shown as -1)
  kExeLink,        // /proc/PID/exe ("/memfd:x (deleted)" for a memfd)
  kExeUpperLayer,  // "true" when the executable is in an overlay mount's upper layer
};

// Reads those facts under a /proc root (tests point it elsewhere). Empty: unknown.
std::string read_proc_file(const std::string& proc_root, uint32_t pid, ProcFile what, int arg = 0);

// What the runtime recorded of a container (docker's config.v2.json and hostconfig.json, the
// OCI bundle's config.json annotations of containerd and CRI-O).
struct ContainerMeta {
  std::string image;       // as the runtime names it: registry/repo:tag or @digest
  std::string ns, pod;     // Kubernetes namespace and pod name
  int privileged = -1;     // 1/0 when the runtime says (docker), -1 unknown
};
// "docker.io/library/nginx:1.25" -> repository "docker.io/library/nginx", tag "1.25".
void split_image(std::string_view image, std::string* repository, std::string* tag);
// Parses docker's files (either may be empty) or an OCI config.json into *out.
bool parse_docker_meta(std::string_view config_v2, std::string_view hostconfig, ContainerMeta* out);
bool parse_oci_meta(std::string_view config_json, ContainerMeta* out);

// Looks containers up by their 12-hex short id under `root` ("/" on a node), cached and bounded.
class ContainerMetaCache {
 public:
  static constexpr size_t kMaxEntries = 4096;
  explicit ContainerMetaCache(std::string root = "/") : root_(std::move(root)) {}
  ContainerMeta get(std::string_view short_id);

 private:
  ContainerMeta load(std::string_view short_id) const;
  std::string root_;
  std::mutex mu_;
  std::map<std::string, ContainerMeta, std::less<>> cache_;
};

// Capability bits as the names Falco prints ("CAP_CHOWN CAP_SYS_ADMIN ..."), lowest bit first.
std::string cap_names(uint64_t caps);
// Arguments by name: ptrace's request ("PTRACE_ATTACH"), socket's domain ("AF_PACKET").
std::string ptrace_request_name(uint64_t request);
std::string socket_domain_name(uint64_t domain);
// `path` made absolute against `base` (an absolute directory) with "." and ".." folded, as the
// kernel would walk it lexically (symlinks are not followed).
std::string absolute_path(std::string_view base, std::string_view path);
// The file in an overlay mount's upper layer behind `path`, from a mountinfo text: the longest
// overlay mount point above `path` and its upperdir; false when none is overlay.
bool overlay_upper_file(std::string_view mountinfo, std::string_view path, std::string* upper_file);

}  // namespace sightline::rules
