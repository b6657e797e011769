// `sightline query`: read-only SQL on the embedded store (the agent need not be running; it can
// be, WAL lets both work at once).
#include <unistd.h>

#include <cstdio>

#include "agent/config.h"
#include "cli/commands.h"
#include "store/query.h"

namespace sightline::cli {

int query(const QueryArgs& args) {
  if (args.schema) {
    fputs(args.format == "json" ? store::schema_json().c_str() : store::schema_text().c_str(), stdout);
    return 0;
  }
  if (args.sql.empty()) {
    fprintf(stderr, "sightline query: give a statement, e.g. sightline query \"SELECT proc_name, count(*) FROM exec "
                    "GROUP BY 1 ORDER BY 2 DESC\" (tables: sightline query --schema)\n");
    return 2;
  }
  std::string path = args.db;
  if (path.empty()) {
    agent::AgentConfig cfg = agent::default_config();
    if (!args.config.empty())
      if (auto st = agent::load_config(args.config, &cfg); !st) {
        fprintf(stderr, "sightline query: %s\n", st.message().c_str());
        return 2;
      }
    path = cfg.store.path;
  }
  store::QueryOptions qo;
  qo.path = path;
  qo.max_rows = args.limit;
  qo.timeout_ms = static_cast<uint32_t>(args.timeout_s * 1000);
  store::QueryResult r;
  if (auto st = store::run_query(qo, args.sql, &r); !st) {
    fprintf(stderr, "sightline query: %s\n", st.message().c_str());
    return 1;
  }
  std::string out = args.format == "csv" ? store::format_csv(r) : args.format == "json" ? store::format_json(r)
                                                                                          : store::format_table(r);
  fwrite(out.data(), 1, out.size(), stdout);
  if (r.truncated && args.format != "table")
    fprintf(stderr, "sightline query: stopped at %zu rows (--limit)\n", r.rows.size());
  return 0;
}

}  // namespace sightline::cli
