#pragma once
// The sketches behind hll()/hll_merge()/dcount_hll() and tdigest()/tdigest_merge()/
// percentile(s)_tdigest()/rank_tdigest(): built by the aggregates (aggregates_sketch.cc), kept
// in dynamic values, read back by the scalar functions registered here (RegisterSketches).
//
// Neither sketch has a Debian 12 library (no HyperLogLog or t-digest package for C++), so both
// are small hand-written ones, in the dynamic shapes the docs show:
//   hll:     [[1024, p], ["hash", ...], []]   sparse: the distinct 64-bit hashes (exact count)
//            [[1024, p], [], ["<base64>"]]    dense: 2^p one-byte HyperLogLog registers
//   tdigest: [[type], [value, ...], [weight, ...]]  centroids, equal values merged
// The precision p follows the documented accuracy levels (0..4: 2^12, 2^14, 2^16, 2^17, 2^18
// counters); the sparse form holds up to 1000 (level 1) or 8000 (level 2) values, so small
// cardinalities are counted exactly as the docs say. The t-digest keeps every distinct value
// (exact nearest-rank percentiles) until kMaxCentroids, then merges neighbours under the usual
// size bound 4·n·q(1−q)/δ. Hashes are XXH64 of the value's key, not Kusto's: an hll made
// elsewhere cannot be merged here. Parsing is hostile-proof: malformed values are rejected.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include "kql/core/column.h"

namespace cmk::kql::fn {

// The 64-bit hash an hll keeps of a value's key bytes (XXH64, seed 0).
uint64_t HashKey(std::string_view key);

class Hll {
 public:
  // `accuracy` 0..4 (others clamp); the default is 1.
  static Hll ForAccuracy(int64_t accuracy);
  void AddHash(uint64_t h);
  // Room for `n` more hashes while sparse, so that a chunk's values don't grow the set by
  // rehashing (a fresh sketch taking a block's 500 hosts rehashed six times: 13% of dcount).
  void Reserve(size_t n);
  // Merges `o` (at the lower of the two precisions).
  void Merge(const Hll& o);
  uint64_t Estimate() const;
  std::string ToJson() const;
  // nullopt when `v` is not an hll value.
  static std::optional<Hll> FromJson(const boost::json::value& v);
  size_t Bytes() const { return sparse_.size() * 16 + registers_.size(); }

 private:
  explicit Hll(int precision);
  void Densify();
  void FoldTo(int precision);
  int p_;
  boost::unordered_flat_set<uint64_t> sparse_;
  std::vector<uint8_t> registers_;  // empty while sparse
};

class TDigest {
 public:
  static constexpr size_t kMaxCentroids = 4096;
  explicit TDigest(Type type = Type::kReal) : type_(type) {}
  void Add(double value, double weight);
  // Add(value, 1) for each value: a query's values go here.
  void AddValues(std::span<const double> values);
  // The same for values in ascending order (non-finite ones anywhere: skipped), merged with the
  // centroids at once instead of buffered and sorted (a partial aggregation sorts its values
  // on the thread that read them: percentile's Seal).
  void AddSortedValues(std::span<const double> sorted);
  void Merge(const TDigest& o);
  // Value at nearest rank ceil(p/100 · total weight); nullopt when empty.
  std::optional<double> Percentile(double p);
  // Total weight of the values <= x.
  double Rank(double x);
  double total() const { return total_ + static_cast<double>(values_.size()) + pending_total_; }
  Type type() const { return type_; }
  std::string ToJson();
  static std::optional<TDigest> FromJson(const boost::json::value& v);
  size_t Bytes() const { return (centroids_.capacity() + pending_.capacity()) * 16 + values_.capacity() * 8; }

 private:
  // Values and centroids wait in buffers until kBuffer of them are there, then Normalize
  // sorts them (a radix sort for the plain values), merges them with the centroids in one pass
  // and compresses the result.
  static constexpr size_t kBuffer = 4 * kMaxCentroids;
  void Normalize();  // merges the buffers in, combines equal values, compresses past kMaxCentroids
  void MergeSorted(std::span<const double> sorted);  // Normalize's merge and compression
  Type type_;
  std::vector<std::pair<double, double>> centroids_;  // (value, weight), sorted, normalized
  std::vector<double> values_;                        // added with weight 1, unsorted
  std::vector<std::pair<double, double>> pending_;    // added with other weights, unsorted
  double total_ = 0;                                  // weight of centroids_
  double pending_total_ = 0;                          // weight of pending_
};

struct Registry;
// sketch_functions.cc; called by RegisterArrays (arrays.cc).
void RegisterSketches(Registry& r);

}  // namespace cmk::kql::fn
