// sample N (N rows picked uniformly at random, in input order, streamed through a reservoir) and sample-distinct N of C (the
// first N distinct values of C met; Kusto promises no particular ones). The random source is
// seeded from the query's injected now(), so a query is repeatable under a fixed clock (and a
// catalog that reads on several threads).
//
// Straight over a scan of a catalog that Thins(), the scan first keeps a Bernoulli sample of its
// rows (ScanRequest::thin) at a rate that leaves over N of them (N + 3 sqrt(N) + 8 expected, from
// a count of the rows), and the reservoir picks N of those: every row is then as likely as any
// other to be picked (a uniform N-subset of a Bernoulli sample is a uniform N-subset of the
// rows, whatever the sample's size), and only the kept rows are built (a 10M-row table's
// `sample 10` decodes some 28 rows' messages, not ten million). Should fewer than N be kept (at
// most about once in 3,000 runs), the scan runs again at four times the rate, up to every row;
// the choice to run again depends on the count kept alone, so the answer stays uniform.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

Status RunSampleDistinct(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t want = static_cast<size_t>(node.limit);
  std::set<std::string> seen;
  Table out = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "sample-distinct");
  std::string key;
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (seen.size() >= want) return OkStatus();
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue v, Eval(node.exprs[0], chunk, fctx));
    const Column& c = v.get();
    for (size_t r = 0; r < chunk.rows && seen.size() < want; ++r) {
      key.clear();
      EncodeKey(c, r, key);
      if (!seen.insert(key).second) continue;
      out.columns[0].AppendFrom(c, r);
      ++out.rows;
      RETURN_IF_ERROR(held.Grow(key.size() + 48));
    }
    return OkStatus();
  }));
  if (out.rows == 0) return OkStatus();
  DropStringNulls(out.columns[0]);
  return sink(Chunk::Own(std::move(out)));
}

// A reservoir of n rows over the streamed input (Vitter's algorithm L: the gap to the next row
// taken is drawn, so the random draws are O(n log(rows / n)), not one per row); each row of the
// input ends up in it with the same probability n / rows. Taken rows are appended to `pool_`,
// and a slot points at its row there; the pool is cut back to the slots' rows once it holds
// twice their number, so the operator holds O(n) rows whatever the input's size.
class Reservoir {
 public:
  Reservoir(size_t n, uint64_t seed, const Schema& schema) : n_(n), rng_(seed), pool_(EmptyTable(schema)) {
    w_ = std::exp(std::log(Unit()) / static_cast<double>(n_));
  }

  // Takes the chunk's rows that enter the reservoir.
  Status Add(const Chunk& chunk, MemoryReservation& held) {
    std::vector<uint32_t> taken;
    std::vector<size_t> slots;
    uint64_t end = seen_ + chunk.rows;
    for (; seen_ < end && seen_ < n_; ++seen_) {  // filling
      taken.push_back(static_cast<uint32_t>(seen_ - (end - chunk.rows)));
      slots.push_back(static_cast<size_t>(seen_));
      if (seen_ + 1 == n_) next_ = n_ + Gap();
    }
    for (; next_ < end; next_ += 1 + Gap()) {
      taken.push_back(static_cast<uint32_t>(next_ - (end - chunk.rows)));
      slots.push_back(std::uniform_int_distribution<size_t>(0, n_ - 1)(rng_));
      w_ *= std::exp(std::log(Unit()) / static_cast<double>(n_));
    }
    seen_ = end;
    if (taken.empty()) return OkStatus();
    size_t base = pool_.rows;
    AppendTable(pool_, GatherChunk(chunk, taken), /*keep_constants=*/true);
    for (size_t k = 0; k < taken.size(); ++k) {
      size_t slot = slots[k];
      if (slot >= rows_.size()) rows_.resize(slot + 1), seq_.resize(slot + 1);
      rows_[slot] = static_cast<uint32_t>(base + k);
      seq_[slot] = end - chunk.rows + taken[k];
    }
    if (pool_.rows > 2 * rows_.size() + 1024) {
      pool_ = GatherTable(pool_, rows_);
      for (size_t i = 0; i < rows_.size(); ++i) rows_[i] = static_cast<uint32_t>(i);
    }
    return held.Resize(ApproxBytes(pool_) + rows_.size() * (sizeof(uint32_t) + sizeof(uint64_t)));
  }

  uint64_t seen() const { return seen_; }

  // The reservoir's rows in input order.
  Table Rows() {
    std::vector<size_t> order(rows_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seq_[a] < seq_[b]; });
    std::vector<uint32_t> idx;
    for (size_t i : order) idx.push_back(rows_[i]);
    return GatherTable(pool_, idx);
  }

 private:
  double Unit() {  // uniform in (0, 1)
    double u = 0;
    while (u <= 0) u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return u;
  }
  // Rows skipped before the next one taken.
  uint64_t Gap() {
    double g = std::floor(std::log(Unit()) / std::log1p(-w_));
    if (!(g < 9e18)) return uint64_t{1} << 62;  // w_ underflowed: no more rows taken
    return static_cast<uint64_t>(g);
  }

  size_t n_;
  std::mt19937_64 rng_;
  double w_ = 0;
  uint64_t seen_ = 0;
  uint64_t next_ = UINT64_MAX;  // the next row taken once the reservoir is full
  Table pool_;
  std::vector<uint32_t> rows_;  // slot -> row of pool_
  std::vector<uint64_t> seq_;   // slot -> its row's place in the input
};

}  // namespace

Status RunSample(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.limit <= 0) return OkStatus();
  if (!node.exprs.empty()) return RunSampleDistinct(node, ctx, sink);
  MemoryReservation held(ctx.budget, "sample");
  const size_t n = static_cast<size_t>(node.limit);
  const uint64_t seed = static_cast<uint64_t>(ctx.now.time_since_epoch().count());
  const PlanNode& in = *node.inputs[0];
  double rate = 1;
  if (in.kind == NodeKind::kScan && ctx.catalog->Thins() && !in.schema.empty()) {
    ScanRequest count = in.scan;
    count.columns = {in.scan.columns.empty() ? in.schema[0].name : in.scan.columns[0]};
    count.rows_only = true;
    uint64_t rows = 0;
    RETURN_IF_ERROR(ctx.catalog->Scan(count, [&](std::shared_ptr<const Table> chunk) -> Status {
      rows += chunk->rows;
      return CheckBudget(ctx);
    }));
    double wanted = static_cast<double>(n) + 3 * std::sqrt(static_cast<double>(n)) + 8;
    if (rows > 0) rate = wanted / static_cast<double>(rows);
  }
  for (uint64_t attempt = 0;; ++attempt) {
    if (rate >= 0.25) rate = 1;  // (thinning would save little)
    Reservoir reservoir(n, MixSeed(seed, attempt), node.schema);
    auto add = [&](Chunk&& chunk) -> Status {
      RETURN_IF_ERROR(CheckBudget(ctx));
      return reservoir.Add(chunk, held);
    };
    if (rate < 1) {
      ScanRequest::Thin thin{rate, MixSeed(seed, attempt, 1)};
      RETURN_IF_ERROR(RunScan(in, [&](ScanRequest& r) { r.thin = thin; }, ctx, add));
      if (reservoir.seen() < n) {
        rate *= 4;
        continue;
      }
    } else {
      RETURN_IF_ERROR(Run(in, ctx, add));
    }
    Table t = reservoir.Rows();
    if (t.rows == 0) return OkStatus();
    return sink(Chunk::Own(std::move(t)));
  }
}

}  // namespace cmk::kql
