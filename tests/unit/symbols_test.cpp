// Symbolization on binaries this test builds: PIE and non-PIE executables, a shared library,
// a stripped binary with a debuglink, one found by build id, C++ names; kallsyms, perf maps and
// /proc/PID/maps parsing from text. No root needed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "symbols/elf_symbols.h"
#include "symbols/symbolizer.h"

using namespace sightline::symbols;
namespace fs = std::filesystem;

namespace {

class Built : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sl-sym-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    write("lib.c", "int sl_lib_func(int x) { return x * 3 + 1; }\n");
    write("prog.c",
          "#include <stdio.h>\n#include <unistd.h>\n"
          "int sl_lib_func(int);\n"
          "static int __attribute__((noinline)) sl_static_func(int x) { return x + sl_lib_func(x); }\n"
          "int __attribute__((noinline)) burn_cpu(int n) { int s = 0; for (int i = 0; i < n; i++) s += sl_static_func(i); return s; }\n"
          "int main(void) { printf(\"%p %p %p\\n\", (void*)burn_cpu, (void*)sl_static_func, (void*)sl_lib_func);\n"
          "  fflush(stdout); pause(); return burn_cpu(3); }\n");
    write("cpp.cc",
          "namespace ns { struct Widget { int __attribute__((noinline)) spin(int n); };\n"
          "int Widget::spin(int n) { return n * 2; } }\n"
          "int main() { ns::Widget w; return w.spin(1); }\n");
    std::string d = dir_.string();
    sh("cc -O1 -g -fPIC -shared -o " + d + "/libsl.so " + d + "/lib.c");
    sh("cc -O1 -g -pie -fPIE -o " + d + "/pie " + d + "/prog.c -L" + d + " -lsl -Wl,-rpath," + d);
    sh("cc -O1 -g -no-pie -fno-PIE -o " + d + "/nopie " + d + "/prog.c -L" + d + " -lsl -Wl,-rpath," + d);
    sh("c++ -O1 -o " + d + "/cpp " + d + "/cpp.cc");
    write("dl.c",
          "#include <dlfcn.h>\n#include <stdio.h>\n#include <unistd.h>\n"
          "int main(int argc, char** argv) { char c; if (read(0, &c, 1) != 1) return 1;\n"
          "  void* h = dlopen(argv[1], RTLD_NOW); if (!h) return 2;\n"
          "  printf(\"%p\\n\", dlsym(h, \"sl_lib_func\")); fflush(stdout); pause(); return 0; }\n");
    sh("cc -O1 -o " + d + "/dl " + d + "/dl.c -ldl");
    // Stripped, symbols in a debug file named by .gnu_debuglink next to it.
    sh("cp " + d + "/pie " + d + "/linked && objcopy --only-keep-debug " + d + "/linked " + d +
       "/linked.debug && strip --strip-all " + d + "/linked && objcopy --add-gnu-debuglink=" + d +
       "/linked.debug " + d + "/linked");
    // Stripped, symbols only under DEBUG_ROOT/.build-id/xx/rest.debug.
    sh("cp " + d + "/pie " + d + "/byid && strip --strip-all " + d + "/byid");
    // Stripped with MiniDebugInfo, as Fedora builds them (GDB's manual, "MiniDebugInfo"): the
    // functions .dynsym lacks, in an xz-compressed ELF in .gnu_debugdata.
    sh("cd " + d + " && cp pie mini && nm -D mini --format=posix --defined-only | awk '{print $1}' | sort >dynsyms && "
       "nm mini --format=posix --defined-only | awk '$2 == \"T\" || $2 == \"t\" {print $1}' | sort >funcsyms && "
       "comm -13 dynsyms funcsyms >keep && objcopy --only-keep-debug mini mini.dbg && "
       "objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep mini.dbg mini.sym && "
       "strip --strip-all -R .comment mini && xz -f mini.sym && objcopy --add-section .gnu_debugdata=mini.sym.xz mini");
    // The same section with bytes that are not xz: nothing from it, no failure.
    sh("cd " + d + " && cp pie badmini && strip --strip-all badmini && head -c 300 /dev/urandom >junk.xz && "
       "objcopy --add-section .gnu_debugdata=junk.xz badmini");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  static void sh(const std::string& cmd) { ASSERT_EQ(system(cmd.c_str()), 0) << cmd; }
  static std::string path(const std::string& name) { return (dir_ / name).string(); }
  // Starts a built program that prints the addresses of burn_cpu, sl_static_func and
  // sl_lib_func, then waits; kill it with stop().
  struct Running {
    pid_t pid = -1;
    unsigned long long burn = 0, stat = 0, lib = 0;
    void stop() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  };
  static Running run(const char* name) {
    Running r;
    int out[2];
    if (pipe(out) != 0) return r;
    r.pid = fork();
    if (r.pid == 0) {
      dup2(out[1], 1);
      execl(path(name).c_str(), name, nullptr);
      _exit(127);
    }
    close(out[1]);
    char buf[256] = {};
    FILE* f = fdopen(out[0], "r");
    if (!fgets(buf, sizeof buf, f) || sscanf(buf, "%llx %llx %llx", &r.burn, &r.stat, &r.lib) != 3) r.burn = 0;
    fclose(f);
    return r;
  }
  static fs::path dir_;
};
fs::path Built::dir_;

std::unique_ptr<ElfSymbols> load(const std::string& p, const std::string& debug_root = "/nonexistent") {
  std::unique_ptr<ElfSymbols> s;
  auto st = ElfSymbols::load(p, &s, debug_root);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

const Symbol* by_name(const ElfSymbols& e, const std::string& name) {
  auto m = e.match(name);
  return m.empty() ? nullptr : m[0];
}

}  // namespace

TEST_F(Built, SymbolsOfPieAndNonPieAndSharedLibraries) {
  for (const char* name : {"pie", "nopie", "libsl.so"}) {
    auto e = load(path(name));
    ASSERT_TRUE(e);
    const char* fn = std::string(name) == "libsl.so" ? "sl_lib_func" : "burn_cpu";
    const Symbol* s = by_name(*e, fn);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(e->find(s->addr + 1)->name, fn) << name;
    EXPECT_FALSE(e->build_id().empty()) << name;
  }
  EXPECT_TRUE(load(path("pie"))->is_pie_or_shared());
  EXPECT_FALSE(load(path("nopie"))->is_pie_or_shared());
  EXPECT_TRUE(by_name(*load(path("pie")), "sl_static_func")) << "static functions come from .symtab";
}

TEST_F(Built, StrippedBinaryUsesItsDebuglink) {
  auto e = load(path("linked"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->debug_file(), path("linked.debug"));
  EXPECT_TRUE(by_name(*e, "sl_static_func"));
}

TEST_F(Built, StrippedBinaryWithMiniDebugInfo) {
  auto full = load(path("pie"));
  auto e = load(path("mini"));
  ASSERT_TRUE(e && full);
  EXPECT_TRUE(e->debug_file().empty()) << "no debug file: the symbols are in the binary";
  for (const char* fn : {"sl_static_func", "burn_cpu", "main"}) {
    const Symbol* got = by_name(*e, fn);
    ASSERT_TRUE(got) << fn << " from .gnu_debugdata";
    EXPECT_EQ(got->addr, by_name(*full, fn)->addr) << fn;
  }
  auto bad = load(path("badmini"));
  ASSERT_TRUE(bad) << "a corrupt .gnu_debugdata is no error";
  EXPECT_FALSE(by_name(*bad, "sl_static_func"));
}

TEST_F(Built, StrippedBinaryFoundByBuildId) {
  auto bare = load(path("byid"));
  ASSERT_TRUE(bare);
  EXPECT_FALSE(by_name(*bare, "sl_static_func")) << "strip removed it";
  std::string id = bare->build_id();
  ASSERT_GT(id.size(), 2u);
  fs::path root = fs::path(path("debugroot"));
  fs::create_directories(root / ".build-id" / id.substr(0, 2));
  fs::copy_file(path("linked.debug"), root / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug"),
                fs::copy_options::overwrite_existing);
  auto e = load(path("byid"), root.string());
  EXPECT_TRUE(by_name(*e, "sl_static_func"));
  EXPECT_FALSE(e->debug_file().empty());
}

TEST_F(Built, CppNamesAreDemangled) {
  auto e = load(path("cpp"));
  ASSERT_TRUE(e);
  EXPECT_TRUE(by_name(*e, "ns::Widget::spin(int)"));
  EXPECT_EQ(e->match("ns::Widget::*").size(), 1u);
  EXPECT_EQ(demangle("_ZN2ns6Widget4spinEi"), "ns::Widget::spin(int)");
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("_Znot-valid"), "_Znot-valid");
}

// A live process: addresses it prints of its own functions resolve through its maps, for a
// PIE, a non-PIE and the shared library they load.
TEST_F(Built, LiveProcessAddressesResolveThroughItsMappings) {
  for (const char* name : {"pie", "nopie"}) {
    Running p = run(name);
    ASSERT_NE(p.burn, 0u) << name;
    pid_t pid = p.pid;
    unsigned long long burn = p.burn, stat = p.stat, lib = p.lib;
    Symbolizer sym;
    ASSERT_TRUE(sym.remember(static_cast<uint32_t>(pid)));
    p.stop();
    // The process is gone; its mappings were remembered.
    Frame a = sym.user(static_cast<uint32_t>(pid), burn + 4);
    EXPECT_EQ(a.function, "burn_cpu") << name;
    EXPECT_EQ(a.module, path(name));
    EXPECT_EQ(a.offset, 4u);
    EXPECT_EQ(sym.user(static_cast<uint32_t>(pid), stat).function, "sl_static_func") << name;
    if (std::string(name) == "pie") {  // non-PIE code takes a library function's PLT address
      Frame l = sym.user(static_cast<uint32_t>(pid), lib + 2);
      EXPECT_EQ(l.function, "sl_lib_func") << name;
      EXPECT_EQ(l.module, path("libsl.so"));
    }
    EXPECT_EQ(sym.user(static_cast<uint32_t>(pid), 0x10).function, "[unknown]");
    EXPECT_EQ(sym.user(12345678, burn).function, "[unknown]") << "a process never remembered";
  }
}

// The symbolizer's caches stay within their byte bounds (memory_limit's share): a file's DWARF
// past its bound is refused (counted), symbol tables past theirs evict the least recently
// used file, and memory pressure empties both.
TEST_F(Built, SymbolCachesStayWithinTheirBudget) {
  Running p = run("pie");
  ASSERT_NE(p.burn, 0u);
  unsigned long long burn = p.burn, lib = p.lib;
  pid_t pid = p.pid;
  auto upid = static_cast<uint32_t>(pid);

  Symbolizer roomy;
  ASSERT_TRUE(roomy.remember(upid));
  EXPECT_EQ(roomy.user_frames(upid, burn + 4).back().function, "burn_cpu");
  const uint64_t program_bytes = roomy.files_bytes();
  EXPECT_GT(roomy.dwarf_bytes(), 0u) << "the test binary has DWARF (-g): it is open and counted";
  EXPECT_GT(roomy.files_bytes(), 0u);
  EXPECT_GT(roomy.release_caches(), 0u);
  EXPECT_EQ(roomy.files_bytes() + roomy.dwarf_bytes(), 0u);
  EXPECT_EQ(roomy.files_cached(), 0u);
  EXPECT_EQ(roomy.user_frames(upid, burn + 4).back().function, "burn_cpu") << "loaded again after the release";

  Symbolizer tight;
  tight.set_budget(program_bytes, 1);  // the program's table fits alone; no DWARF does
  ASSERT_TRUE(tight.remember(upid));
  EXPECT_EQ(tight.user_frames(upid, burn + 4).back().function, "burn_cpu") << "symbols still answer";
  EXPECT_EQ(tight.dwarf_bytes(), 0u);
  EXPECT_EQ(tight.dwarf_refused(), 1u);
  EXPECT_EQ(tight.user(upid, lib + 2).function, "sl_lib_func");
  EXPECT_EQ(tight.files_cached(), 1u) << "the library's table evicted the program's";
  EXPECT_GE(tight.file_evictions(), 1u);
  EXPECT_EQ(tight.files_refused(), 0u);

  // A table larger than the whole bound is refused, once: each stack through the file would
  // otherwise read it again and evict every other file's (node's 12 MiB table, every second).
  Symbolizer tiny;
  tiny.set_budget(1, 1);
  ASSERT_TRUE(tiny.remember(upid));
  for (int i = 0; i < 3; i++) {
    Frame f = tiny.user(upid, burn + 4);
    EXPECT_EQ(f.function, "[unknown]");
    EXPECT_EQ(f.module, path("pie"));
  }
  EXPECT_EQ(tiny.files_refused(), 1u) << "not read again";
  EXPECT_EQ(tiny.files_bytes(), 0u);
  p.stop();
}

// A library loaded after the mappings were taken is found by taking them again.
TEST_F(Built, LibraryLoadedAfterTheSnapshotIsFound) {
  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execl(path("dl").c_str(), "dl", path("libsl.so").c_str(), nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  Symbolizer sym;
  usleep(100 * 1000);  // the program has started (its own mappings only)
  ASSERT_TRUE(sym.remember(static_cast<uint32_t>(pid)));
  ASSERT_EQ(::write(in[1], "g", 1), 1);
  char buf[64] = {};
  FILE* f = fdopen(out[0], "r");
  ASSERT_TRUE(fgets(buf, sizeof buf, f));
  unsigned long long lib = strtoull(buf, nullptr, 16);
  Frame l = sym.user(static_cast<uint32_t>(pid), lib + 1);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  fclose(f);
  close(in[1]);
  EXPECT_EQ(l.function, "sl_lib_func");
  EXPECT_EQ(l.module, path("libsl.so"));
}

TEST(SymbolText, KallsymsPerfMapsAndProcMaps) {
  KernelSymbols k;
  k.load_text("ffffffff81000000 T _stext\nffffffff81000100 t do_thing\nffffffff81000200 d data_sym\n"
              "ffffffffc0000000 t mod_func\t[e1000]\n");
  EXPECT_EQ(k.size(), 3u) << "data symbols are skipped";
  Frame f = k.lookup(0xffffffff81000180);
  EXPECT_EQ(f.function, "do_thing");
  EXPECT_EQ(f.offset, 0x80u);
  EXPECT_EQ(f.module, "[kernel]");
  EXPECT_EQ(k.lookup(0xffffffffc0000010).module, "[e1000]");
  EXPECT_EQ(k.lookup(0x10).function, "[unknown]");

  PerfMap p;
  p.load_text("7f0000001000 100 LazyCompile:~hot /app.js:3\n7f0000002000 20 stub\nbad line\n");
  ASSERT_TRUE(p.find(0x7f0000001010));
  EXPECT_EQ(p.find(0x7f0000001010)->name, "LazyCompile:~hot /app.js:3");
  EXPECT_FALSE(p.find(0x7f0000001200));

  auto maps = parse_maps(
      "55d0c0000000-55d0c0001000 r--p 00000000 fe:01 1234 /usr/bin/x\n"
      "55d0c0001000-55d0c0005000 r-xp 00001000 fe:01 1234 /usr/bin/x\n"
      "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                  [vdso]\n"
      "7f0000000000-7f0000100000 rwxp 00000000 00:00 0 \n"
      "garbage\n");
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].path, "/usr/bin/x");
  EXPECT_EQ(maps[0].pgoff, 0x1000u);
  EXPECT_EQ(maps[1].path, "[vdso]");
  EXPECT_EQ(maps[2].path, "[anon]");
  EXPECT_TRUE(glob_match("malloc*", "malloc_trim"));
  EXPECT_TRUE(glob_match("*::spin(?nt)", "ns::Widget::spin(int)"));
  EXPECT_FALSE(glob_match("free", "freeze"));
  EXPECT_TRUE(glob_match("/proc/[0-9]*/environ", "/proc/123/environ"));
  EXPECT_FALSE(glob_match("/proc/[0-9]*/environ", "/proc/self/environ"));
  EXPECT_TRUE(glob_match("[!a]x", "bx"));
  EXPECT_FALSE(glob_match("[!a]x", "ax"));
  EXPECT_TRUE(glob_match("a[", "a["));
}

// A Go binary without .symtab (built with -ldflags='-s -w', or stripped): its functions come
// from the runtime's .gopclntab, at the addresses the unstripped build's .symtab gives.
TEST(GoSymbols, StrippedGoBinaryNamesItsFunctionsFromPclntab) {
  fs::path d = fs::temp_directory_path() / ("sl-go-" + std::to_string(getpid()));
  fs::create_directories(d);
  std::ofstream(d / "main.go") << "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n"
                                  "//go:noinline\nfunc burnCPU(n int) int {\n\ts := 0\n\tfor i := 0; i < n; i++ {\n"
                                  "\t\ts += i * i\n\t}\n\treturn s\n}\n\n"
                                  "func main() { fmt.Fprintln(os.Stdout, burnCPU(len(os.Args))) }\n";
  std::string env = "cd " + d.string() + " && HOME=" + d.string() + " GOCACHE=" + (d / "cache").string() +
                    " GOPATH=" + (d / "gopath").string() + " GOFLAGS= GO111MODULE=auto ";
  ASSERT_EQ(system((env + "go build -o full main.go && go build -ldflags='-s -w' -o bare main.go && "
                          "cp full stripped && strip --strip-all stripped").c_str()), 0)
      << "go build (golang-go: scripts/deps.sh installs it)";
  auto full = load((d / "full").string());
  ASSERT_TRUE(full);
  const Symbol* want = by_name(*full, "main.burnCPU");
  ASSERT_TRUE(want) << "the unstripped build's .symtab";
  for (const char* name : {"bare", "stripped"}) {
    auto e = load((d / name).string());
    ASSERT_TRUE(e) << name;
    const Symbol* got = by_name(*e, "main.burnCPU");
    ASSERT_TRUE(got) << name << ": " << e->size() << " symbols";
    EXPECT_EQ(got->addr, want->addr) << name;
    EXPECT_EQ(e->find(want->addr + 1)->name, "main.burnCPU") << name;
    EXPECT_TRUE(by_name(*e, "fmt.Fprintln")) << name;
    EXPECT_TRUE(by_name(*e, "runtime.mallocgc")) << name;
    // Every function both name is at the same address (names such as crypto/tls.(*Conn).Write
    // are no globs: compared as they are).
    std::map<std::string, std::set<uint64_t>> at;
    for (const auto& s : full->symbols()) at[s.name].insert(s.addr);
    size_t same = 0, both = 0;
    std::string differ;
    for (const auto& s : e->symbols())
      if (auto f = at.find(s.name); f != at.end()) {
        both++;
        // An ABI0 wrapper (assembly called from Go code, 1.17+): .symtab says NAME.abi0,
        // the pclntab NAME.
        auto w = at.find(s.name + ".abi0");
        if (f->second.count(s.addr) || (w != at.end() && w->second.count(s.addr))) same++;
        else if (differ.size() < 2000) differ += s.name + " " + std::to_string(s.addr) + " vs " + std::to_string(*f->second.begin()) + "\n";
      }
    EXPECT_GT(both, 500u) << name;
    EXPECT_EQ(same, both) << name << ":\n" << differ;
  }
  fs::remove_all(d);
}
