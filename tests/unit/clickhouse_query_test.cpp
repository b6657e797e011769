// The aggregator's read side: ClickHouse's TabSeparatedWithNamesAndTypes answers (as ClickHouse
// 18.16 writes them: see tests/e2e/fleet_query.sh for the live server) into the agent's
// QueryResult, and ClickHouse's error bodies into a reason a person reads.
#include <gtest/gtest.h>

#include "aggregator/clickhouse_query.h"

using namespace sightline;
using aggregator::parse_clickhouse_tsv;
using store::QueryCell;

TEST(ClickHouseQuery, TypedCellsNullsAndEscapes) {
  // SELECT number, toString(number) s, NULL n, 1.5 f, 'a\tb\\c\nd' e, toUInt64(-1) big, [1,2] arr
  std::string body =
      "number\ts\tn\tf\te\tbig\tarr\n"
      "UInt64\tString\tNullable(Nothing)\tFloat64\tString\tUInt64\tArray(UInt8)\n"
      "0\t0\t\\N\t1.5\ta\\tb\\\\c\\nd\t18446744073709551615\t[1,2]\n"
      "7\t\t\\N\t-2e3\t\t1\t[]\n";
  store::QueryResult r;
  ASSERT_TRUE(parse_clickhouse_tsv(body, 100, &r));
  ASSERT_EQ(r.columns, (std::vector<std::string>{"number", "s", "n", "f", "e", "big", "arr"}));
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_FALSE(r.truncated);
  const auto& a = r.rows[0];
  EXPECT_EQ(a[0].type, QueryCell::kInt);
  EXPECT_EQ(a[0].i, 0);
  EXPECT_EQ(a[1].type, QueryCell::kText);  // a String of digits stays text
  EXPECT_EQ(a[1].s, "0");
  EXPECT_EQ(a[2].type, QueryCell::kNull);
  EXPECT_EQ(a[3].type, QueryCell::kReal);
  EXPECT_DOUBLE_EQ(a[3].d, 1.5);
  EXPECT_EQ(a[4].s, "a\tb\\c\nd");
  EXPECT_EQ(a[5].type, QueryCell::kText);  // past INT64_MAX: exact as text
  EXPECT_EQ(a[5].s, "18446744073709551615");
  EXPECT_EQ(a[6].s, "[1,2]");
  EXPECT_EQ(r.rows[1][0].i, 7);
  EXPECT_EQ(r.rows[1][1].type, QueryCell::kText);
  EXPECT_EQ(r.rows[1][1].s, "");
  EXPECT_DOUBLE_EQ(r.rows[1][3].d, -2000);
  // The same JSON the agent's store gives.
  EXPECT_TRUE(store::format_json(r).starts_with(
      R"({"columns":["number","s","n","f","e","big","arr"],"rows":[[0,"0",null,1.5,"a\tb\\c\nd","18446744073709551615","[1,2]"],)"))
      << store::format_json(r);
}

TEST(ClickHouseQuery, RowsPastTheBoundAreCutAndMarked) {
  std::string body = "x\nInt64\n1\n2\n3\n";
  store::QueryResult r;
  ASSERT_TRUE(parse_clickhouse_tsv(body, 2, &r));
  EXPECT_EQ(r.rows.size(), 2u);
  EXPECT_TRUE(r.truncated);
  ASSERT_TRUE(parse_clickhouse_tsv(body, 3, &r));
  EXPECT_EQ(r.rows.size(), 3u);
  EXPECT_FALSE(r.truncated);
  // No rows at all (a statement that selects nothing still names its columns).
  ASSERT_TRUE(parse_clickhouse_tsv("x\nLowCardinality(Nullable(Int32))\n", 10, &r));
  EXPECT_TRUE(r.rows.empty());
}

TEST(ClickHouseQuery, MalformedAnswersAreErrorsNotCrashes) {
  store::QueryResult r;
  for (std::string bad : {"", "x", "a\tb\nInt64\n", "a\nInt64\n1\t2\n", "a\\\nString\n", "{\"meta\": []}"})
    EXPECT_FALSE(parse_clickhouse_tsv(bad, 10, &r)) << bad;
  // A trailing backslash in a cell is kept, not read past.
  ASSERT_TRUE(parse_clickhouse_tsv("a\nString\nx\\", 10, &r));
  EXPECT_EQ(r.rows.at(0).at(0).s, "x");
}

TEST(ClickHouseQuery, ErrorReasons) {
  int code = 0;
  EXPECT_EQ(aggregator::clickhouse_error_reason(
                "Code: 164, e.displayText() = DB::Exception: Cannot insert into table in readonly mode, e.what() = "
                "DB::Exception\n",
                &code),
            "Cannot insert into table in readonly mode");
  EXPECT_EQ(code, 164);
  // Current releases' shape.
  EXPECT_EQ(aggregator::clickhouse_error_reason(
                "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)\n",
                &code),
            "Table default.nope does not exist. (UNKNOWN_TABLE)");
  EXPECT_EQ(code, 60);
  EXPECT_EQ(aggregator::clickhouse_error_reason("bad gateway", &code), "bad gateway");
  EXPECT_EQ(code, 0);
}
