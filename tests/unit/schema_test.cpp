// The event table: unique names, lookups, and JSON derived from it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/render.h"
#include "core/schema.h"

using namespace sightline::core;

TEST(Schema, FieldNamesAreUniqueWithinEachKindAndDocumented) {
  for (const auto& k : kinds()) {
    std::set<std::string_view> names;
    for (const auto& f : common_fields()) EXPECT_TRUE(names.insert(f.name).second) << f.name;
    for (const auto& f : k.fields) {
      EXPECT_TRUE(names.insert(f.name).second) << k.name << ": duplicate " << f.name;
      EXPECT_FALSE(f.doc.empty()) << f.name;
      EXPECT_NE(f.get, nullptr) << f.name;
    }
  }
}

TEST(Schema, EveryKindIsInItsSlotAndFoundByName) {
  for (size_t i = 0; i < kinds().size(); i++) {
    EXPECT_EQ(static_cast<size_t>(kinds()[i].kind), i);
    EXPECT_EQ(find_kind(kinds()[i].name), &kinds()[i]);
  }
  EXPECT_EQ(find_kind("nope"), nullptr);
}

TEST(Schema, FieldLookupByName) {
  const FieldDef* pid = find_field("proc.pid");
  ASSERT_NE(pid, nullptr);
  Event e;
  e.pid = 4242;
  EXPECT_EQ(pid->get(e).u, 4242u);
  const FieldDef* name = find_field("fd.name");
  ASSERT_NE(name, nullptr);
  e.kind = EventKind::kOpen;
  e.path = "/etc/passwd";
  EXPECT_EQ(name->get(e).s, "/etc/passwd");
  EXPECT_TRUE(kind_has_field(EventKind::kOpen, name));
  EXPECT_FALSE(kind_has_field(EventKind::kExec, name));
  EXPECT_TRUE(kind_has_field(EventKind::kExec, find_field("evt.type")));
  EXPECT_EQ(find_field("proc.nonexistent"), nullptr);
}

TEST(Schema, EvtTypeIsTheKindName) {
  Event e;
  e.kind = EventKind::kExit;
  EXPECT_EQ(find_field("evt.type")->get(e).s, "exit");
}

TEST(SchemaJson, OpenEventRendersEveryFieldInTableOrder) {
  Event e;
  e.kind = EventKind::kOpen;
  e.ts_wall_ns = 1700000000123456789ULL;
  e.pid = 10;
  e.tid = 11;
  e.ppid = 1;
  e.comm = "cat";
  e.pname = "bash";
  e.exe = "/usr/bin/cat";
  e.uid = 1000;
  e.gid = 100;
  e.cgroup_id = 7;
  e.ret = -2;
  e.flags = 0101;  // O_WRONLY|O_CREAT
  e.mode = 0644;
  e.dirfd = -100;
  e.syscall = 2;
  e.path = "/tmp/a \"b\"";
  std::string out;
  append_event_json(out, e);
  EXPECT_EQ(out,
            "{\"evt.time\":\"2023-11-14T22:13:20.123456789Z\",\"evt.type\":\"open\",\"proc.pid\":10,"
            "\"proc.tid\":11,\"proc.ppid\":1,\"proc.name\":\"cat\",\"proc.pname\":\"bash\","
            "\"proc.exepath\":\"/usr/bin/cat\",\"user.uid\":1000,\"group.gid\":100,\"cgroup.id\":7,"
            "\"container.id\":\"\",\"container.runtime\":\"\",\"k8s.pod.uid\":\"\",\"k8s.pod.qos\":\"\",\"fd.num\":-1,\"evt.rawres\":-2,\"evt.errno\":\"ENOENT\","
            "\"evt.failed\":true,\"evt.syscall\":\"openat\",\"evt.arg.flags\":\"O_WRONLY|O_CREAT\","
            "\"evt.arg.mode\":420,\"evt.arg.dirfd\":-100,\"fd.name\":\"/tmp/a \\\"b\\\"\","
            "\"fd.name_truncated\":false,\"evt.weight\":1}");
}

TEST(SchemaJson, ExecArgvIsAnArray) {
  Event e;
  e.kind = EventKind::kExec;
  static const char args[] = "sh\0-c\0echo \"hi\"\0\0";
  e.args = std::string_view(args, sizeof args - 1);  // four args, the last one empty
  std::string out;
  append_value_json(out, find_field("proc.args")->get(e));
  EXPECT_EQ(out, "[\"sh\",\"-c\",\"echo \\\"hi\\\"\",\"\"]");
  out.clear();
  append_value_text(out, find_field("proc.args")->get(e));
  EXPECT_EQ(out, "sh -c 'echo \"hi\"' ''");
}
