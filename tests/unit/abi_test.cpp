// The kernel<->user ABI: every struct of bpf/include/sightline/*.h, as g++ lays it out here,
// against the BTF of the BPF objects clang compiled from the same headers (size, each field's
// name, order and offset), as Tetragon's alignchecker does. A drifted struct fails here instead
// of corrupting events. The field lists come from the headers (cmake/abi_fields.py).
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#define SL_ABI_HEADERS
#include "abi_fields.inc"
#undef SL_ABI_HEADERS

namespace {

struct Layout {
  std::string name, header;
  size_t size = 0;
  std::vector<std::pair<std::string, size_t>> fields;  // name, byte offset
};

std::vector<Layout> user_layouts() {
  std::vector<Layout> v;
#define SL_ABI_STRUCT(s, h) v.push_back({#s, h, sizeof(struct s), {}});
#define SL_ABI_FIELD(s, f) v.back().fields.emplace_back(#f, offsetof(struct s, f));
#include "abi_fields.inc"
#undef SL_ABI_STRUCT
#undef SL_ABI_FIELD
  return v;
}

struct Object {
  std::string name;
  btf* b = nullptr;
};

std::vector<Object> bpf_objects() {
  std::vector<Object> objs;
  for (const auto& e : std::filesystem::directory_iterator(SL_BPF_OBJ_DIR)) {
    std::string p = e.path().string();
    if (!p.ends_with(".bpf.o")) continue;
    btf* b = btf__parse_elf(p.c_str(), nullptr);
    EXPECT_NE(b, nullptr) << p << ": no BTF (built without -g?)";
    if (b) objs.push_back({e.path().filename().string(), b});
  }
  return objs;
}

// What differs between the user-side layout and the struct of the same name in `b`; empty when
// they agree. Nothing when `b` has no such struct.
std::vector<std::string> mismatches(const Layout& l, const btf* b) {
  std::vector<std::string> out;
  int id = btf__find_by_name_kind(b, l.name.c_str(), BTF_KIND_STRUCT);
  if (id < 0) return out;
  const btf_type* t = btf__type_by_id(b, id);
  if (t->size != l.size)
    out.push_back("size " + std::to_string(t->size) + " in BPF, " + std::to_string(l.size) + " here");
  const btf_member* m = btf_members(t);
  size_t n = btf_vlen(t);
  if (n != l.fields.size())
    out.push_back(std::to_string(n) + " fields in BPF, " + std::to_string(l.fields.size()) + " here");
  for (size_t i = 0; i < std::min(n, l.fields.size()); i++) {
    std::string name = btf__name_by_offset(b, m[i].name_off);
    uint32_t bits = btf_member_bit_offset(t, static_cast<uint32_t>(i));
    if (name != l.fields[i].first)
      out.push_back("field " + std::to_string(i) + " is '" + name + "' in BPF, '" + l.fields[i].first + "' here");
    else if (bits % 8 || bits / 8 != l.fields[i].second)
      out.push_back(name + " at bit " + std::to_string(bits) + " in BPF, byte " + std::to_string(l.fields[i].second) +
                    " here");
  }
  return out;
}

// Structs the BPF side never names as a type (no map, variable or cast of them), so no
// object's BTF has them: user-space-only views of what the kernel writes.
const std::set<std::string> kNotInBtf = {};

}  // namespace

TEST(Abi, EverySharedStructMatchesTheBtfOfTheBpfObjects) {
  auto objs = bpf_objects();
  ASSERT_GE(objs.size(), 10u) << "BPF objects in " << SL_BPF_OBJ_DIR;
  auto layouts = user_layouts();
  ASSERT_GE(layouts.size(), 30u);
  size_t compared = 0;
  for (const auto& l : layouts) {
    std::vector<std::string> in;
    for (const auto& o : objs) {
      if (btf__find_by_name_kind(o.b, l.name.c_str(), BTF_KIND_STRUCT) < 0) continue;
      in.push_back(o.name);
      compared++;
      for (const auto& m : mismatches(l, o.b)) ADD_FAILURE() << "struct " << l.name << " (" << l.header << ") in " << o.name << ": " << m;
    }
    if (in.empty() && !kNotInBtf.count(l.name))
      ADD_FAILURE() << "struct " << l.name << " (" << l.header << ") is in no BPF object's BTF: unchecked";
  }
  EXPECT_GE(compared, layouts.size());
  for (auto& o : objs) btf__free(o.b);
}

// The check itself sees a drift: a layout one byte off, a field renamed, a field missing.
TEST(Abi, ADriftedLayoutIsReported) {
  auto objs = bpf_objects();
  ASSERT_FALSE(objs.empty());
  const btf* b = nullptr;
  for (const auto& o : objs)
    if (btf__find_by_name_kind(o.b, "sl_exit_event", BTF_KIND_STRUCT) >= 0) b = o.b;
  ASSERT_NE(b, nullptr) << "sl_exit_event in no object";
  Layout good;
  for (const auto& l : user_layouts())
    if (l.name == "sl_exit_event") good = l;
  ASSERT_FALSE(good.fields.empty());
  EXPECT_TRUE(mismatches(good, b).empty());
  Layout bigger = good;
  bigger.size += 8;
  bigger.fields.back().second += 8;
  auto m = mismatches(bigger, b);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NE(m[0].find("size 80 in BPF, 88 here"), std::string::npos) << m[0];
  Layout renamed = good;
  renamed.fields[1].first = "status";
  m = mismatches(renamed, b);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("is 'exit_code' in BPF, 'status' here"), std::string::npos) << m[0];
  Layout fewer = good;
  fewer.fields.pop_back();
  EXPECT_EQ(mismatches(fewer, b).size(), 1u);
  for (auto& o : objs) btf__free(o.b);
}
