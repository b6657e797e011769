// `sightline doctor`: what this kernel and these privileges allow, source by source, in
// sentences a person can act on. Exit 0 when the agent can run at least one source.
#include <unistd.h>

#include <cstdio>

#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "sources/source.h"

namespace sightline::cli {

int doctor() {
  bpf::install_libbpf_logger(false);
  bpf::Features f = bpf::probe_features();
  printf("kernel        %s\n", f.kernel_release.c_str());
  printf("user          uid %u%s; CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s\n", geteuid(),
         f.root ? " (root)" : "", f.cap_bpf ? "yes" : "no", f.cap_perfmon ? "yes" : "no",
         f.cap_sys_admin ? "yes" : "no");
  if (!f.can_load)
    printf("\n  BPF programs cannot be loaded by this process: run as root, or give the binary\n"
           "  CAP_BPF, CAP_PERFMON (and CAP_SYS_ADMIN on kernels before 5.8).\n");
  printf("\nkernel features\n");
  for (const auto& feat : f.list)
    printf("  %-4s %-24s %s\n", feat.ok ? "ok" : "--", feat.name.c_str(), feat.detail.c_str());

  printf("\nsources\n");
  int can_run = 0, total = 0;
  for (const auto* entry : sources::registry()) {
    const sources::SourceInfo& info = *entry;
    total++;
    auto src = info.create();
    auto plan = src->plan(f, sources::SourceOptions{});
    bool runs = false;
    for (const auto& h : plan) runs |= h.enabled;
    can_run += runs;
    printf("  %-10s %s   %.*s\n", std::string(info.name).c_str(), runs ? "runs        " : "cannot run  ",
           static_cast<int>(info.doc.size()), info.doc.data());
    for (const auto& h : plan)
      printf("      %-3s %-44s %s\n", h.enabled ? "on" : "off", h.attach.c_str(),
             h.enabled ? "" : h.note.c_str());
  }
  printf("\n");
  if (can_run == 0) {
    printf("verdict: the agent cannot run here: no source has a usable hook (see above)\n");
    return 1;
  }
  printf("verdict: the agent can run: %d of %d sources\n", can_run, total);
  return 0;
}

}  // namespace sightline::cli
