// CPython frames (symbols/python_frames.h): the 3.11 location table decoded against the
// interpreter's own co_positions(), code objects of a live python3.11 named from its memory, and
// the merge into the native stack. Debian 12's python3.11; no root needed (a child's memory).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "symbols/python_frames.h"
#include "symbols/symbolizer.h"

using namespace sightline::symbols;

namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string unhex(const std::string& h) {
  std::string s;
  for (size_t i = 0; i + 1 < h.size(); i += 2) s.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return s;
}

TEST(PythonFrames, VersionsFromFileNames) {
  EXPECT_EQ(python_version_of("/usr/bin/python3.11"), "3.11");
  EXPECT_EQ(python_version_of("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"), "3.11");
  EXPECT_EQ(python_version_of("/opt/py/bin/python3.12"), "3.12");
  EXPECT_EQ(python_version_of("/usr/bin/python3.11-config"), "");
  EXPECT_EQ(python_version_of("/usr/bin/python3"), "");
  PythonLayout l;
  EXPECT_TRUE(python_layout("3.11", &l));
  EXPECT_FALSE(python_layout("3.12", &l));  // not pinned: native frames only
}

TEST(PythonFrames, LineTableMatchesTheInterpretersPositions) {
  // Functions with loops, long jumps, multi-line expressions, a nested def and lines far apart.
  const char* script = R"PY(
import sys
def f(x):
    y = x + 1
    for i in range(3):
        y += i
    return y
def g(a, b):
    if a:
        return (a +
                b)



    try:
        return [i * b for i in range(a)]
    except Exception:
        return None
def h():
    def inner(q): return q * 2
    return inner(3) + sum(range(1000)) + len(str(h)) + len([x for x in range(10) if x % 2])
for fn in (f, g, h, h.__code__.co_consts):
    codes = [fn.__code__] if hasattr(fn, '__code__') else [c for c in fn if hasattr(c, 'co_linetable')]
    for c in codes:
        lines = [p[0] if p[0] is not None else -1 for p in c.co_positions()]
        print(c.co_firstlineno, c.co_linetable.hex(), ','.join(map(str, lines)))
)PY";
  std::string out = run("/usr/bin/python3.11 -c \"$(cat <<'EOF'\n" + std::string(script) + "\nEOF\n)\"");
  std::istringstream in(out);
  int tables = 0;
  for (std::string first, hex, lines; in >> first >> hex >> lines; tables++) {
    std::string table = unhex(hex);
    std::istringstream ls(lines);
    uint32_t index = 0;
    for (std::string l; std::getline(ls, l, ','); index++)
      EXPECT_EQ(python_line(table, std::stoi(first), index), std::stoi(l)) << "table " << tables << " index " << index;
    EXPECT_EQ(python_line(table, std::stoi(first), index + 100), -1);  // past its end
  }
  EXPECT_GE(tables, 4) << out;
  // Bad tables: an error (-1), never a crash.
  EXPECT_EQ(python_line("", 1, 0), -1);
  EXPECT_EQ(python_line("\x01\x02", 1, 0), -1);
  EXPECT_EQ(python_line(std::string("\xf0\xff\xff\xff\xff\xff\xff", 7), 1, 0), -1);
}

TEST(PythonFrames, CodeObjectsOfALiveInterpreterAreNamed) {
  // The child prints its code objects' addresses (id() is the address in CPython) and waits.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    execl("/usr/bin/python3.11", "python3.11", "-c",
          "import sys, time\n"
          "class Shop:\n"
          "    def checkout(self):\n"
          "        return 1\n"
          "print(id(Shop.checkout.__code__), flush=True)\n"
          "time.sleep(30)\n",
          nullptr);
    _exit(1);
  }
  close(out[1]);
  char buf[64] = {};
  ASSERT_GT(read(out[0], buf, sizeof buf - 1), 0);
  uint64_t code = strtoull(buf, nullptr, 10);
  PythonLayout l;
  ASSERT_TRUE(python_layout("3.11", &l));
  PythonFrames names;
  Frame f = names.name(static_cast<uint32_t>(pid), code, 0, l);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(out[0]);
  // The module of `python -c` code is its file name, "<string>".
  EXPECT_EQ(f.function, "<string>.Shop.checkout (<string>:3)");
  // A pointer that is no code object: a frame saying so, not a crash.
  PythonFrames again;
  EXPECT_EQ(again.name(static_cast<uint32_t>(getpid()), 8, 0, l).function, "[python]");
}

TEST(PythonFrames, RunsReplaceTheEvalFramesThatRanThem) {
  auto nat = [](const char* n) { return Frame{n, "/usr/bin/python3.11", 0, false}; };
  auto py = [](const char* n, bool entry) { return std::make_pair(Frame{n, "x.py", 0, false}, entry); };
  // Leaf first: a C function called from Python, the eval loop, a builtin calling back into
  // Python (a second eval loop), main.
  std::vector<Frame> native = {nat("PyNumber_Add"), nat("_PyEval_EvalFrameDefault"), nat("builtin_map"),
                               nat("_PyEval_EvalFrameDefault"), nat("Py_RunMain"), nat("main")};
  std::vector<std::pair<Frame, bool>> python = {py("m.leaf", false), py("m.mid", true), py("m.outer", false),
                                                py("m.top", true)};
  std::vector<Frame> got = merge_python(native, python);
  std::vector<std::string> names;
  for (const auto& f : got) names.push_back(f.function);
  EXPECT_EQ(names, (std::vector<std::string>{"PyNumber_Add", "m.leaf", "m.mid", "builtin_map", "m.outer", "m.top",
                                             "Py_RunMain", "main"}));
}

}  // namespace
