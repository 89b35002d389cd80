// HyperLogLog and t-digest sketches (sketch.h); the scalar functions over them are in
// sketch_functions.cc.
#include "kql/functions/sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>

#include <boost/sort/spreadsort/float_sort.hpp>

#include <xxhash.h>

#include "base/encoding.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

// Documented accuracy levels 0..4 -> precision (log2 of the counters).
constexpr int kPrecision[] = {12, 14, 16, 17, 18};
constexpr int64_t kHllVersion = 1024;  // the first element of the docs' [[1024,14],...]

// The exact (sparse) form's capacity: the docs' 1000 values at level 1 and 8000 at level 2,
// and a sixteenth of the registers' bytes at the others.
size_t SparseLimit(int p) {
  if (p == 14) return 1000;
  if (p == 16) return 8000;
  return (size_t{1} << p) / 16;
}

// Rank of a hash in the dense form: 1 + leading zeros of the bits below the index.
uint8_t RankOf(uint64_t h, int p) {
  uint64_t rest = (h << p) | (uint64_t{1} << (p - 1));  // guard bit bounds the count
  return static_cast<uint8_t>(std::countl_zero(rest) + 1);
}

}  // namespace

uint64_t HashKey(std::string_view key) { return XXH64(key.data(), key.size(), 0); }

Hll::Hll(int precision) : p_(precision) {}

Hll Hll::ForAccuracy(int64_t accuracy) {
  int64_t level = std::clamp<int64_t>(accuracy, 0, 4);
  return Hll(kPrecision[level]);
}

void Hll::AddHash(uint64_t h) {
  if (registers_.empty()) {
    sparse_.insert(h);
    if (sparse_.size() > SparseLimit(p_)) Densify();
    return;
  }
  uint8_t& reg = registers_[h >> (64 - p_)];
  reg = std::max(reg, RankOf(h, p_));
}

void Hll::Reserve(size_t n) {
  if (!registers_.empty()) return;
  size_t want = std::min(sparse_.size() + n, SparseLimit(p_) + 1);
  if (want > sparse_.max_load()) sparse_.reserve(want);  // (reserve may also shrink: never here)
}

void Hll::Densify() {
  registers_.assign(size_t{1} << p_, 0);
  boost::unordered_flat_set<uint64_t> hashes;
  hashes.swap(sparse_);
  for (uint64_t h : hashes) AddHash(h);
}

// Lowers the precision of a dense sketch: each new register takes the maximum of the old
// registers it covers, their ranks extended by the index bits that move into the rank.
void Hll::FoldTo(int precision) {
  if (precision >= p_) return;
  if (registers_.empty()) {
    p_ = precision;
    if (sparse_.size() > SparseLimit(p_)) Densify();
    return;
  }
  int shift = p_ - precision;
  std::vector<uint8_t> out(size_t{1} << precision, 0);
  for (size_t i = 0; i < registers_.size(); ++i) {
    if (registers_[i] == 0) continue;
    uint64_t low = i & ((uint64_t{1} << shift) - 1);
    uint8_t rank = low != 0 ? static_cast<uint8_t>(std::countl_zero(low << (64 - shift)) + 1)
                            : static_cast<uint8_t>(shift + registers_[i]);
    uint8_t& reg = out[i >> shift];
    reg = std::max(reg, rank);
  }
  registers_ = std::move(out);
  p_ = precision;
}

void Hll::Merge(const Hll& o) {
  if (o.p_ > p_) {  // folded to this precision first (a copy: `o` stays as it is)
    Hll other = o;
    other.FoldTo(p_);
    return Merge(other);
  }
  FoldTo(o.p_);
  if (o.registers_.empty()) {
    Reserve(o.sparse_.size());
    for (uint64_t h : o.sparse_) AddHash(h);
    return;
  }
  if (registers_.empty()) Densify();
  for (size_t i = 0; i < registers_.size(); ++i) registers_[i] = std::max(registers_[i], o.registers_[i]);
}

// The classic estimator with linear counting for small cardinalities; 64-bit hashes need no
// large-range correction.
uint64_t Hll::Estimate() const {
  if (registers_.empty()) return sparse_.size();
  double m = static_cast<double>(registers_.size());
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0 ? 1 : 0;
  }
  double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));
  return static_cast<uint64_t>(std::llround(e));
}

std::string Hll::ToJson() const {
  bj::array head{kHllVersion, p_}, hashes, dense;
  if (registers_.empty()) {
    std::vector<uint64_t> sorted(sparse_.begin(), sparse_.end());
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t h : sorted) hashes.emplace_back(std::to_string(static_cast<int64_t>(h)));
  } else {
    dense.emplace_back(Base64Encode(registers_));
  }
  return WriteJson(bj::array{head, hashes, dense});
}

std::optional<Hll> Hll::FromJson(const bj::value& v) {
  const bj::array* parts = v.if_array();
  if (parts == nullptr || parts->size() != 3 || !(*parts)[0].is_array()) return std::nullopt;
  const bj::array& head = (*parts)[0].get_array();
  if (head.size() != 2 || !head[0].is_int64() || head[0].get_int64() != kHllVersion ||
      !head[1].is_int64() || std::find(std::begin(kPrecision), std::end(kPrecision), head[1].get_int64()) == std::end(kPrecision)) {
    return std::nullopt;
  }
  Hll out(static_cast<int>(head[1].get_int64()));
  const bj::array* hashes = (*parts)[1].if_array();
  const bj::array* dense = (*parts)[2].if_array();
  if (hashes == nullptr || dense == nullptr || dense->size() > 1) return std::nullopt;
  if (dense->size() == 1) {
    const bj::string* text = (*dense)[0].if_string();
    if (text == nullptr) return std::nullopt;
    Result<std::vector<uint8_t>> regs = Base64Decode(std::string_view(*text));
    if (!regs.ok() || regs->size() != (size_t{1} << out.p_)) return std::nullopt;
    out.registers_ = std::move(*regs);
  }
  for (const bj::value& h : *hashes) {
    const bj::string* s = h.if_string();
    std::optional<int64_t> n = s != nullptr ? ParseLong(std::string_view(*s)) : std::nullopt;
    if (!n) return std::nullopt;
    out.AddHash(static_cast<uint64_t>(*n));
  }
  return out;
}

// ---- t-digest

void TDigest::Add(double value, double weight) {
  if (!std::isfinite(value) || !(weight > 0) || !std::isfinite(weight)) return;
  if (weight == 1) {
    values_.push_back(value);
  } else {
    pending_.emplace_back(value, weight);
    pending_total_ += weight;
  }
  if (values_.size() + pending_.size() >= kBuffer) Normalize();
}

void TDigest::AddValues(std::span<const double> values) {
  while (!values.empty()) {
    size_t take = std::min(values.size(), kBuffer - values_.size() - pending_.size());
    for (double v : values.first(take)) {
      if (std::isfinite(v)) values_.push_back(v);
    }
    values = values.subspan(take);
    if (values_.size() + pending_.size() >= kBuffer) Normalize();
  }
}

void TDigest::Merge(const TDigest& o) {
  if (type_ != o.type_ && total() == 0) type_ = o.type_;
  for (const auto& [v, w] : o.centroids_) Add(v, w);
  for (const auto& [v, w] : o.pending_) Add(v, w);
  AddValues(o.values_);
}

// Equal values share a centroid (exact); past kMaxCentroids neighbours merge while a centroid
// stays under 4·n·q(1−q)/δ (δ = kMaxCentroids / 4), the bound of Dunning's merging digest.
// The plain values are sorted by Boost's spreadsort (a radix sort over the doubles' bits:
// about half std::sort's time here, which was most of a digest's cost per value), merged with
// the centroids in one pass into a per-thread scratch (a fresh vector each time was a fresh
// mapping the kernel zeroed), and a merged centroid keeps its weighted sum until it closes
// (one division a centroid instead of one a value).
void TDigest::Normalize() {
  if (values_.empty() && pending_.empty()) return;
  boost::sort::spreadsort::float_sort(values_.begin(), values_.end());
  if (!pending_.empty()) {  // weighted centroids (a merge, FromJson): into the centroids first
    std::sort(pending_.begin(), pending_.end());
    std::vector<std::pair<double, double>> both;
    both.reserve(centroids_.size() + pending_.size());
    std::merge(centroids_.begin(), centroids_.end(), pending_.begin(), pending_.end(), std::back_inserter(both));
    centroids_ = std::move(both);
    total_ += pending_total_;
    pending_.clear();
    pending_total_ = 0;
  }
  MergeSorted(values_);
  values_.clear();
}

void TDigest::AddSortedValues(std::span<const double> sorted) {
  Normalize();  // what waits in the buffers goes in first
  MergeSorted(sorted);
}

void TDigest::MergeSorted(std::span<const double> sorted) {
  thread_local std::vector<std::pair<double, double>> out;
  out.clear();
  out.reserve(centroids_.size() + sorted.size());
  auto push = [](double v, double w) {
    if (!out.empty() && out.back().first == v) out.back().second += w;
    else out.emplace_back(v, w);
  };
  size_t i = 0, added = 0;
  for (double v : sorted) {
    if (!std::isfinite(v)) continue;
    for (; i < centroids_.size() && centroids_[i].first <= v; ++i) push(centroids_[i].first, centroids_[i].second);
    push(v, 1);
    ++added;
  }
  for (; i < centroids_.size(); ++i) push(centroids_[i].first, centroids_[i].second);
  total_ += static_cast<double>(added);
  if (out.size() > kMaxCentroids) {
    double delta = static_cast<double>(kMaxCentroids) / 4, seen = 0, scale = 4 * total_ / delta, sum = 0;
    size_t n = 0;  // centroids kept, merged in place: out[n - 1] is open, its weighted sum in `sum`
    for (size_t x = 0; x < out.size(); ++x) {
      const auto c = out[x];
      double q = (seen + c.second / 2) / total_;
      double limit = std::max(1.0, scale * q * (1 - q));
      if (n > 0 && out[n - 1].second + c.second <= limit) {
        sum += c.first * c.second;
        out[n - 1].second += c.second;
      } else {
        if (n > 0) out[n - 1].first = sum / out[n - 1].second;
        out[n++] = c;
        sum = c.first * c.second;
      }
      seen += c.second;
    }
    out[n - 1].first = sum / out[n - 1].second;
    out.resize(n);
  }
  centroids_.assign(out.begin(), out.end());
}

std::optional<double> TDigest::Percentile(double p) {
  Normalize();
  if (centroids_.empty() || std::isnan(p)) return std::nullopt;
  double rank = std::max(1.0, std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * total_));
  double seen = 0;
  for (const auto& [v, w] : centroids_) {
    seen += w;
    if (seen >= rank) return v;
  }
  return centroids_.back().first;
}

double TDigest::Rank(double x) {
  Normalize();
  double seen = 0;
  for (const auto& [v, w] : centroids_) {
    if (v > x) break;
    seen += w;
  }
  return seen;
}

std::string TDigest::ToJson() {
  Normalize();
  bj::array values, weights;
  bool ints = UsesInts(type_);
  for (const auto& [v, w] : centroids_) {
    if (ints) values.emplace_back(static_cast<int64_t>(v));
    else values.emplace_back(v);
    weights.emplace_back(static_cast<int64_t>(std::llround(w)));
  }
  int64_t code = static_cast<int64_t>(type_) + 5;  // long is 7, as in the docs' [[7],...]
  return WriteJson(bj::array{bj::array{code}, values, weights});
}

std::optional<TDigest> TDigest::FromJson(const bj::value& v) {
  const bj::array* parts = v.if_array();
  if (parts == nullptr || parts->size() != 3) return std::nullopt;
  const bj::array* head = (*parts)[0].if_array();
  const bj::array* values = (*parts)[1].if_array();
  const bj::array* weights = (*parts)[2].if_array();
  if (head == nullptr || values == nullptr || weights == nullptr || head->size() != 1 ||
      !(*head)[0].is_int64() || values->size() != weights->size()) {
    return std::nullopt;
  }
  int64_t code = (*head)[0].get_int64() - 5;
  if (code < 0 || code > static_cast<int64_t>(Type::kTimespan) || code == static_cast<int64_t>(Type::kString)) {
    return std::nullopt;
  }
  TDigest out(static_cast<Type>(code));
  for (size_t i = 0; i < values->size(); ++i) {
    if (!(*values)[i].is_number() || !(*weights)[i].is_number()) return std::nullopt;
    out.Add((*values)[i].to_number<double>(), (*weights)[i].to_number<double>());
  }
  return out;
}

}  // namespace cmk::kql::fn
