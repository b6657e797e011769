// Tracepoint formats from tracefs text, field decoding and --filter expressions.
#include <gtest/gtest.h>

#include <cstring>

#include "tracepoint/format.h"

using namespace sightline::tracepoint;

namespace {
const char* kExec =
    "name: sched_process_exec\nID: 365\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
    "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
    "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n"
    "\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;\n"
    "\tfield:const void * ptr;\toffset:32;\tsize:8;\tsigned:0;\n\n"
    "print fmt: \"filename=%s pid=%d\", __get_str(filename), REC->pid\n";

// A record of that format: filename "/bin/true" after the fixed part.
std::vector<uint8_t> record() {
  std::vector<uint8_t> r(64, 0);
  uint32_t loc = (10u << 16) | 40;
  memcpy(&r[8], &loc, 4);
  int32_t pid = -7;
  memcpy(&r[12], &pid, 4);
  memcpy(&r[16], "bash", 4);
  uint64_t ptr = 0xffff8880deadbeef;
  memcpy(&r[32], &ptr, 8);
  memcpy(&r[40], "/bin/true", 10);
  return r;
}
}  // namespace

TEST(TracepointFormat, ParsesFieldsTypesAndKinds) {
  Format f;
  ASSERT_TRUE(parse_format(kExec, &f).ok());
  EXPECT_EQ(f.name, "sched_process_exec");
  EXPECT_EQ(f.id, 365u);
  ASSERT_EQ(f.fields.size(), 8u);
  const Field* fn = f.find("filename");
  ASSERT_TRUE(fn);
  EXPECT_TRUE(fn->data_loc);
  EXPECT_TRUE(fn->string);
  const Field* comm = f.find("comm");
  ASSERT_TRUE(comm);
  EXPECT_EQ(comm->type, "char[16]");
  EXPECT_TRUE(comm->string);
  EXPECT_EQ(comm->size, 16u);
  EXPECT_TRUE(f.find("common_pid")->common);
  EXPECT_TRUE(f.find("pid")->is_signed);
  EXPECT_EQ(f.find("ptr")->type, "const void *");
  EXPECT_EQ(f.fixed_size, 40u);
}

TEST(TracepointFormat, FieldValues) {
  Format f;
  ASSERT_TRUE(parse_format(kExec, &f).ok());
  auto r = record();
  Value v;
  ASSERT_TRUE(field_value(*f.find("filename"), r.data(), r.size(), &v));
  EXPECT_EQ(v.text, "/bin/true");
  ASSERT_TRUE(field_value(*f.find("pid"), r.data(), r.size(), &v));
  EXPECT_EQ(v.text, "-7");
  EXPECT_EQ(v.i, -7);
  ASSERT_TRUE(field_value(*f.find("comm"), r.data(), r.size(), &v));
  EXPECT_EQ(v.text, "bash");
  ASSERT_TRUE(field_value(*f.find("ptr"), r.data(), r.size(), &v));
  EXPECT_EQ(v.text, "0xffff8880deadbeef");
  EXPECT_FALSE(field_value(*f.find("ptr"), r.data(), 20, &v)) << "record too short";
  uint32_t bad = (500u << 16) | 60;  // length past the end: cut at the record's end
  memcpy(&r[8], &bad, 4);
  ASSERT_TRUE(field_value(*f.find("filename"), r.data(), r.size(), &v));
  EXPECT_LE(v.text.size(), 4u);
}

TEST(TracepointFormat, MalformedFormatsAreErrors) {
  Format f;
  EXPECT_FALSE(parse_format("", &f).ok());
  auto st = parse_format("name: x\nformat:\n\tfield:int;\toffset:0;\tsize:4;\n", &f);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("line 3"), std::string::npos) << st.message();
  EXPECT_FALSE(parse_format("format:\n\tfield:int a;\toffset:x;\tsize:4;\n", &f).ok());
}

TEST(TracepointFilter, ExpressionsOverFields) {
  Format f;
  ASSERT_TRUE(parse_format(kExec, &f).ok());
  f.category = "sched";
  auto r = record();
  auto eval = [&](const char* expr) {
    Filter flt;
    auto st = Filter::parse(expr, f, &flt);
    EXPECT_TRUE(st.ok()) << expr << ": " << st.message();
    return flt.matches(r.data(), r.size());
  };
  EXPECT_TRUE(eval("pid == -7"));
  EXPECT_TRUE(eval("pid < 0 && comm == bash"));
  EXPECT_FALSE(eval("pid > 0"));
  EXPECT_TRUE(eval("pid > 0 || filename ~ \"/bin/*\""));
  EXPECT_TRUE(eval("comm != zsh"));
  EXPECT_TRUE(eval("ptr == 0xffff8880deadbeef")) << "hex numbers";
  Filter flt;
  auto st = Filter::parse("nofield == 1", f, &flt);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("fields: filename, pid, comm, ptr"), std::string::npos) << st.message();
  EXPECT_FALSE(Filter::parse("pid == abc", f, &flt).ok());
  EXPECT_FALSE(Filter::parse("pid ~ 1*", f, &flt).ok());
  EXPECT_FALSE(Filter::parse("== 3", f, &flt).ok());
  EXPECT_FALSE(Filter::parse("pid", f, &flt).ok());
}
