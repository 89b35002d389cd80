// Fuzzes the whole KQL engine: any query text, bound and executed over a small in-memory table,
// either runs or fails with a Status — never a crash, hang or sanitizer report. Each run has a
// small memory budget and a deadline (ExecOptions), so runaway queries (huge ranges, cross
// joins, make-series bins) end with E_RUNAWAY_QUERY / E_QUERY_TIMEOUT instead of stalling the
// fuzzer or tripping -rss_limit_mb.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "env/env.h"
#include "kql/engine.h"

namespace {

const cmk::kql::InMemoryCatalog& Catalog() {
  static const cmk::kql::InMemoryCatalog* catalog = [] {
    using cmk::kql::Column;
    using cmk::kql::Type;
    auto* c = new cmk::kql::InMemoryCatalog();
    cmk::kql::Table t;
    t.name = "T";
    Column time(Type::kDateTime), host(Type::kString), n(Type::kLong), d(Type::kReal), props(Type::kDynamic);
    for (int i = 0; i < 40; ++i) {
      time.AppendInt(17'000'000'000'000'000 + int64_t{i} * 36'000'000'000);
      host.AppendString(i % 3 ? "host" + std::to_string(i % 5) : "");
      if (i % 7 == 0) n.AppendNull();
      else n.AppendInt(i * (i % 2 ? 1 : -1));
      d.AppendReal(i / 3.0);
      props.AppendString(i % 4 ? R"({"a":[1,2,{"b":"x"}],"c":null})" : "null");
    }
    t.AddColumn("TimeGenerated", std::move(time));
    t.AddColumn("Computer", std::move(host));
    t.AddColumn("N", std::move(n));
    t.AddColumn("D", std::move(d));
    t.AddColumn("Props", std::move(props));
    t.rows = 40;
    c->Add(std::move(t));
    return c;
  }();
  return *catalog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2048) return 0;  // long inputs only slow the search down
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cmk::kql::ExecOptions options;
  options.now = cmk::TimePoint(std::chrono::seconds(1'800'000'000));
  options.max_result_rows = 10'000;
  options.memory_limit_bytes = 64 << 20;
  options.deadline_us = cmk::env::MonotonicMicros() + 2'000'000;
  (void)cmk::kql::Execute(text, Catalog(), options);
  return 0;
}
