#pragma once
// What a query can read: table schemas and scans of their rows (Catalog), and InMemoryCatalog,
// a Catalog over tables held in memory. The binder resolves table names and plans scans
// (ScanRequest) against a Catalog; the executor runs the scans.
// Thread safety: a Catalog must allow concurrent Scan calls (Execute is reentrant);
// InMemoryCatalog is immutable once its tables are added.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"
#include "kql/functions/functions.h"

namespace cmk::kql {

struct ColumnSchema {
  std::string name;
  Type type = Type::kString;
};
using Schema = std::vector<ColumnSchema>;

// What a scan of one table needs. Bounds are hints for pruning (by extent or block): a Catalog
// may return rows outside them and the executor still applies its own filters.
struct ScanRequest {
  std::string table;
  std::vector<std::string> columns;          // needed columns; empty = all
  std::optional<int64_t> min_time, max_time;  // TimeGenerated bounds in ticks, inclusive (ExactTimeBounds)
  // Rows whose `column` is below (`lower`) or above `value` (or null) are not wanted: a block
  // holding none but such rows may be skipped, and such rows left out of the blocks read. Set
  // by `top` once it knows its N-th value.
  struct ValueBound {
    std::string column;
    bool lower = true;  // wanted: column >= value; else column <= value
    bool real = false;  // compare as reals (real/decimal columns), else as ints
    int64_t i = 0;
    double d = 0;
  };
  std::optional<ValueBound> bound;
  // Set by `top N by X`'s first pass, which reads X alone: only the N best values of X are
  // wanted (`greatest`: the N greatest). A Catalog that knows its blocks' extremes may skip
  // every block whose extreme is worse than the N-th best block extreme, since N blocks hold a
  // value at least that good; blocks without known extremes are always read.
  struct Best {
    std::string column;
    bool greatest = true;
    bool real = false;  // compare as reals (real/decimal columns), else as ints
    size_t n = 0;
  };
  std::optional<Best> best;
  // Set by `where` straight over a scan when the Catalog applies filters (AppliesFilters) and
  // the predicate is safe to evaluate on other threads: returns the chunk's wanted rows (the
  // chunk itself when all are, null when none is). A Catalog that decodes on several threads
  // calls it there, so that filters run on every core; it must be applied to every chunk, and
  // what it returns goes to the sink as it is (summarize's partial aggregation returns row-less
  // tokens, exec/scan_filter.cc).
  std::function<Result<std::shared_ptr<const Table>>(const std::shared_ptr<const Table>&)> filter;
  // Set beside `filter` by a caller that wants each chunk's place in the scan (per-thread
  // aggregations restoring the order groups are first seen in): a Catalog whose
  // SequencesChunks() is true calls it instead of `filter`, with `seq` the place of the chunk's
  // first row in the scan: its row r is at seq + r, and a later chunk's seq is past its rows
  // (at least seq + rows; gaps allowed), so that every row scanned has a place of its own.
  std::function<Result<std::shared_ptr<const Table>>(const std::shared_ptr<const Table>&, uint64_t seq)>
      sequenced_filter;
  // With `filter`: a test of one string column's values that every row `filter` keeps passes
  // (a conjunct such as `Message contains "timeout"`). A Catalog may apply it to a block's
  // encoded values and build only the passing rows' strings; rows whose value is null must be
  // kept (the test speaks of values). It narrows, never replaces: `filter` still decides.
  struct StringTest {
    std::string column;
    std::function<bool(std::string_view)> keep;
    // kql::ValueTest::find: where the needle every kept value holds occurs in a text (empty
    // when kept values need hold none): a block's values may be searched as one text.
    std::function<size_t(std::string_view text, size_t from)> find;
    // Set when `keep` is the filter's whole predicate and nothing after the filter reads the
    // column's values (`where Message !contains "x" | count`): rows of a block without nulls
    // that pass may carry any value that passes instead of their own (one for all,
    // dictionary-coded), so that no string is built per row.
    bool any_passing_value = false;
    // kql::ValueTest's: when `by_terms`, `keep` holds for a value exactly when `term_keep`
    // holds for one of its terms alone (`term_find` finding its needle), or with
    // `terms_negated` for none of them, so that a block's distinct terms may be tested instead
    // of its values (engine/term_index.h).
    bool by_terms = false;
    bool terms_negated = false;
    bool terms_first = false;  // only the term a value starts with (startswith)
    bool terms_last = false;   // only the term a value ends with (endswith)
    std::function<bool(std::string_view)> term_keep;
    std::function<size_t(std::string_view text, size_t from)> term_find;
    // kql::ValueTest's: when not `by_terms`, a value `keep` holds holds, for one of these lists,
    // a term passing each of its tests; a Catalog with a block's terms at hand may test only
    // the values of the rows holding such terms (and the nulls).
    std::vector<std::vector<TermTest>> term_candidates;
    // Set when the filter's predicate has other cheap conjuncts (comparisons of columns with
    // constants: `Level == "Error"` beside `Message has_cs "Job"`): the rows of a row group's
    // table (holding at least the columns `first_reads` names) that pass them, ascending. Every
    // row `filter` keeps is among them: a Catalog may test only these rows' values, and read
    // none of a block when there are none.
    std::function<Result<std::vector<uint32_t>>(const std::shared_ptr<const Table>&)> rows_first;
    std::vector<std::string> first_reads;
  };
  std::optional<StringTest> prefilter;
  // With `filter`: what a row the filter keeps surely holds, as terms (kql/functions/terms.h)
  // of string columns' values: one of these needs at least (a row of `Message has "a" or
  // Computer has "a"` holds term "a" in Message or in Computer). A need holds in a value with
  // every one of `terms` and, when `any_terms` is set, every term of one of its lists. A
  // Catalog that keeps term filters of blocks (engine/term_filter.h) may skip a row group when
  // each need's block has a filter that surely lacks it. Unset: no such skip; empty: the filter
  // keeps no row.
  struct TermNeed {
    std::string column;
    std::vector<uint64_t> terms;
    std::vector<std::vector<uint64_t>> any_terms;
  };
  std::optional<std::vector<TermNeed>> term_needs;
  // Set by a summarize straight over a scan whose aggregates each take one row of a group
  // (arg_max, arg_min, take_any, min, max): of a chunk decoded with at least the `reads`
  // columns (the others may be absent), the rows its aggregation could take (each group's
  // first and best rows, ascending). A Catalog may drop every other row before `filter`, and
  // decode the chunk's other columns for the kept rows only (late materialization: the
  // messages of a group's latest row, not of every row). Set by a top over a where too (its
  // passing rows among a chunk's N best, meeting `bound` when there is one). When `whole` is
  // given, `rows` may fill it (one flag a kept row) to mark the rows kept for their place alone
  // (0: a group's first row beside a better one, whose values outside `reads` can't be an
  // answer), which a Catalog may give nulls outside `reads`; left empty, every kept row is whole.
  // `rows` runs on the Catalog's threads, and each call may learn from the ones before (a
  // group's best key so far): one Select serves one scan.
  struct Select {
    std::vector<std::string> reads;
    std::function<std::vector<uint32_t>(const Table&, std::vector<uint8_t>* whole)> rows;
  };
  std::optional<Select> select;
  // Set by `sample N` straight over a scan, for a Catalog that Thins(): each row the scan hands
  // out is kept independently with probability `rate` (a Bernoulli sample, drawn with
  // ThinnedRows from seeds derived from `seed`), exactly once whichever way it is read (cached,
  // decoded, in memory), before the columns are built: a Catalog builds only the kept rows'
  // strings and skips a row group none of whose rows is kept. Unset with a filter.
  struct Thin {
    double rate = 1;
    uint64_t seed = 0;
  };
  std::optional<Thin> thin;
  // Nothing reads the scan's values, only how many rows it gives (`T | count`, `T | summarize
  // count()`, sample's count of the rows it draws from): a Catalog may hand out chunks whose
  // requested columns are nulls, for rows it counted without reading their values (a row
  // group's count from its extent's footer). Set only without a filter that reads a column.
  bool rows_only = false;
};

// The rows of `rows` that a Bernoulli sample at `rate` keeps (ScanRequest::Thin), ascending,
// drawn from `seed`: the gaps between kept rows are geometric, so the draws are O(rows kept).
std::vector<uint32_t> ThinnedRows(size_t rows, double rate, uint64_t seed);
// A seed for one part of a scan (a row group, a chunk) from the scan's seed and the part's
// numbers (splitmix64's finalizer: nearby inputs give unrelated seeds).
uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b = 0);

class Catalog {
 public:
  virtual ~Catalog() = default;
  // Every table the query can name (for `union *`, wildcards and `search`).
  virtual std::vector<std::string> TableNames() const = 0;
  // Schema of a table (names are case-sensitive); nullopt when unknown.
  virtual std::optional<Schema> TableSchema(const std::string& table) const = 0;
  // Delivers the table's rows in chunks (each chunk has the requested columns, in the schema's
  // order when `columns` is empty). A non-OK status from `sink` stops the scan and is returned.
  // Chunks are shared and immutable (hot data is handed out without copies): the executor
  // reads them and must copy what it wants to change.
  virtual Status Scan(const ScanRequest& request,
                      const std::function<Status(std::shared_ptr<const Table>)>& sink) const = 0;
  // Whether Scan applies ScanRequest::filter (false: the executor filters on its own thread).
  virtual bool AppliesFilters() const { return false; }
  // Whether Scan calls ScanRequest::sequenced_filter, when set, in place of `filter`.
  virtual bool SequencesChunks() const { return false; }
  // Whether Scan applies ScanRequest::thin (false: the executor samples every row it reads).
  virtual bool Thins() const { return false; }
  // Whether Scan hands out only rows whose TimeGenerated (a datetime column) is not null and
  // within the request's [min_time, max_time]: bounds the binder took from leading `where`
  // conjuncts, which it then drops (false: the bounds are hints for pruning only).
  virtual bool ExactTimeBounds() const { return false; }
  // Runs every job and returns once all are done: on the Catalog's threads too where it keeps
  // any (the calling thread takes part), else one after another here. Jobs must not wait on
  // each other and must not throw (summarize's finish over its shares).
  virtual void RunAll(std::span<const std::function<void()>> jobs) const {
    for (const auto& job : jobs) job();
  }
};

// Scans `catalog` as a catalog with every capability (AppliesFilters, SequencesChunks, Thins,
// ExactTimeBounds) would: what it leaves undone of `request` is done here, per chunk (rows
// outside the time bounds dropped, the thinning, the filter). For a wrapper that forwards
// another catalog's capabilities and serves some tables from a catalog without them.
Status ScanAsAsked(const Catalog& catalog, const ScanRequest& request,
                   const std::function<Status(std::shared_ptr<const Table>)>& sink);

// A Catalog over tables held in memory (tests, transformKql's `source`). Scan hands out the
// stored chunks as they are: every column, a superset of the requested ones.
class InMemoryCatalog : public Catalog {
 public:
  void Add(Table table);
  std::vector<std::string> TableNames() const override;
  std::optional<Schema> TableSchema(const std::string& table) const override;
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override;
  bool Thins() const override { return true; }

 private:
  std::map<std::string, Table> tables_;  // schema only (no rows)
  // Rows, cut into shared chunks when added, so that Scan hands them out without copies.
  std::map<std::string, std::vector<std::shared_ptr<const Table>>> chunks_;
};

}  // namespace cmk::kql
