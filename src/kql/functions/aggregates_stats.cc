// binary_all_and/or/xor, covariance(p)(if), buildschema, and the weighted and array forms of
// percentiles (aggregates_internal.h).
#include <algorithm>
#include <cmath>
#include <map>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates_internal.h"
#include "kql/functions/function_json.h"
#include "kql/functions/sketch.h"

namespace cmk::kql::agg {
namespace {

namespace bj = boost::json;
using Args = std::span<const Column* const>;

double NumAt(const Column& c, size_t r) {
  return UsesReals(c.type) ? c.Real(r) : static_cast<double>(c.Int(r));
}

// Bitwise fold; a group without values is null.
class BinaryAllAgg : public Aggregator {
 public:
  explicit BinaryAllAgg(char op) : op_(op) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    acc_.resize(num_groups, op_ == '&' ? ~int64_t{0} : 0);
    has_.resize(num_groups, 0);
    const Column& v = *args[0];
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r)) continue;
      int64_t& a = acc_[groups[r]];
      int64_t x = v.Int(r);
      a = op_ == '&' ? (a & x) : op_ == '|' ? (a | x) : (a ^ x);
      has_[groups[r]] = 1;
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kLong);
    for (size_t g = 0; g < n; ++g) {
      if (g < has_.size() && has_[g]) c.AppendInt(acc_[g]);
      else c.AppendNull();
    }
    return {std::move(c)};
  }

 private:
  char op_;
  std::vector<int64_t> acc_;
  std::vector<uint8_t> has_;
};

// Welford's co-moment: numerically stable in one pass, like stdev/variance in aggregates.cc.
class CovarianceAgg : public Aggregator {
 public:
  CovarianceAgg(bool sample, bool conditional) : sample_(sample), conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    s_.resize(num_groups);
    const Column &x = *args[0], &y = *args[1];
    const Column* pred = conditional_ ? args[2] : nullptr;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (x.IsNull(r) || y.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      State& s = s_[groups[r]];
      double xv = NumAt(x, r), yv = NumAt(y, r);
      s.n += 1;
      double dx = xv - s.mx;
      s.mx += dx / s.n;
      s.my += (yv - s.my) / s.n;
      s.c += dx * (yv - s.my);
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kReal);
    s_.resize(n);
    for (const State& s : s_) {
      double denom = sample_ ? s.n - 1 : s.n;
      if (s.n == 0) c.AppendNull();
      else c.AppendReal(denom <= 0 ? 0 : s.c / denom);
    }
    return {std::move(c)};
  }

 private:
  struct State {
    double n = 0, mx = 0, my = 0, c = 0;
  };
  bool sample_, conditional_;
  std::vector<State> s_;
};

// buildschema: per group, the union of the values' shapes. A node holds its alternatives in
// the order first seen: scalar type names and at most one container (objects and arrays alike;
// an array's elements are the container's "`indexer`" member, as the docs show).
struct SchemaNode {
  std::vector<std::string> kinds;  // "long", "double", "string", "bool", or "{}" (the container)
  std::vector<std::pair<std::string, std::unique_ptr<SchemaNode>>> members;

  SchemaNode* Member(const std::string& key) {
    for (auto& [k, m] : members) {
      if (k == key) return m.get();
    }
    members.emplace_back(key, std::make_unique<SchemaNode>());
    return members.back().second.get();
  }
  void AddKind(const char* kind) {
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.emplace_back(kind);
  }
  // Returns the bytes added (approximately).
  size_t Add(const bj::value& v, int depth) {
    if (v.is_null() || depth > 64) return 0;
    if (v.is_int64() || v.is_uint64()) return AddKind("long"), 0;
    if (v.is_double()) return AddKind("double"), 0;
    if (v.is_string()) return AddKind("string"), 0;
    if (v.is_bool()) return AddKind("bool"), 0;
    AddKind("{}");
    size_t before = members.size(), bytes = 0;
    if (v.is_array()) {
      for (const bj::value& e : v.get_array()) bytes += Member("`indexer`")->Add(e, depth + 1);
    } else {
      for (const auto& kv : v.get_object()) bytes += Member(std::string(kv.key()))->Add(kv.value(), depth + 1);
    }
    return bytes + (members.size() - before) * 96;
  }
  bj::value ToJson() const {
    bj::array alts;
    for (const std::string& k : kinds) {
      if (k != "{}") {
        alts.emplace_back(k);
        continue;
      }
      bj::object o;
      for (const auto& [key, m] : members) o[key] = m->ToJson();
      alts.emplace_back(std::move(o));
    }
    if (alts.size() == 1) return alts[0];
    return alts;
  }
};

class BuildSchemaAgg : public Aggregator {
 public:
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    roots_.resize(num_groups);
    const Column& v = *args[0];
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r)) continue;
      std::optional<bj::value> j;
      if (v.type == Type::kDynamic) j = fn::ParseJson(v.Str(r));
      else j = fn::ValueToJson(v, r);
      if (j) bytes_ += roots_[groups[r]].Add(*j, 0);
    }
  }
  size_t StateBytes() const override { return bytes_; }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kDynamic);
    roots_.resize(n);
    for (const SchemaNode& root : roots_) {
      if (root.kinds.empty()) c.AppendNull();
      else c.AppendString(fn::WriteJson(root.ToJson()));
    }
    return {std::move(c)};
  }

 private:
  std::vector<SchemaNode> roots_;
  size_t bytes_ = 0;
};

// percentilew(s) (one column per percentage), percentiles_array and percentilesw_array (one
// dynamic array): a t-digest per group (sketch.h) holding each distinct value and its weight,
// so the percentiles are Kusto's weighted nearest rank while the values fit in it. A weight
// that is null, not positive or not finite skips its row.
class WeightedPercentileAgg : public Aggregator {
 public:
  WeightedPercentileAgg(std::span<const Type> types, std::span<const double> ps, bool weighted, bool array)
      : types_(types.begin(), types.end()), ps_(ps.begin(), ps.end()), weighted_(weighted), array_(array) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    const Column& v = *args[0];
    if (array_ && !read_ps_ && !groups.empty()) ReadPercentages(args.subspan(weighted_ ? 2 : 1));
    value_type_ = v.type;
    digests_.resize(num_groups, fn::TDigest(v.type));
    const Column* w = weighted_ ? args[1] : nullptr;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (w != nullptr && w->IsNull(r))) continue;
      fn::TDigest& d = digests_[groups[r]];
      size_t before = d.Bytes();
      d.Add(NumAt(v, r), w != nullptr ? NumAt(*w, r) : 1.0);
      bytes_ += d.Bytes() - std::min(before, d.Bytes());
    }
  }
  size_t StateBytes() const override { return bytes_; }
  std::vector<Column> Finish(size_t n) override;

 private:
  void ReadPercentages(Args ps) {
    read_ps_ = true;
    for (const Column* c : ps) {
      if (c->IsNull(0)) continue;
      if (c->type != Type::kDynamic) {
        ps_.push_back(NumAt(*c, 0));
        continue;
      }
      std::optional<bj::value> arr = fn::ParseJson(c->Str(0));
      if (!arr || !arr->is_array()) continue;
      for (const bj::value& p : arr->get_array()) {
        if (p.is_number() && ps_.size() < 1024) ps_.push_back(p.to_number<double>());
      }
    }
  }
  std::vector<Type> types_;
  std::vector<double> ps_;
  bool weighted_, array_, read_ps_ = false;
  Type value_type_ = Type::kReal;
  std::vector<fn::TDigest> digests_;
  size_t bytes_ = 0;
};

std::vector<Column> WeightedPercentileAgg::Finish(size_t n) {
  digests_.resize(n, fn::TDigest(value_type_));
  std::vector<Column> outs;
  for (Type t : types_) outs.emplace_back(t);
  bool ints = UsesInts(value_type_);
  Column one(value_type_ == Type::kInt ? Type::kLong : value_type_);
  for (fn::TDigest& d : digests_) {
    bj::array arr;
    for (size_t i = 0; i < ps_.size(); ++i) {
      std::optional<double> v = d.Percentile(ps_[i]);
      one = Column(one.type);
      if (!v) one.AppendNull();
      else if (ints) one.AppendInt(static_cast<int64_t>(std::llround(*v)));
      else one.AppendReal(*v);
      if (array_) arr.push_back(fn::ValueToJson(one, 0));
      else outs[i].AppendFrom(one, 0);
    }
    if (array_ && d.total() == 0) outs[0].AppendNull();
    else if (array_) outs[0].AppendString(fn::WriteJson(arr));
  }
  return outs;
}

}  // namespace

std::unique_ptr<Aggregator> MakeStatsAggregator(std::string_view n, std::span<const Type> types,
                                                std::span<const double> params) {
  if (n == "binary_all_and") return std::make_unique<BinaryAllAgg>('&');
  if (n == "binary_all_or") return std::make_unique<BinaryAllAgg>('|');
  if (n == "binary_all_xor") return std::make_unique<BinaryAllAgg>('^');
  if (n.starts_with("covariance")) {
    return std::make_unique<CovarianceAgg>(!n.starts_with("covariancep"), n.ends_with("if"));
  }
  if (n == "buildschema") return std::make_unique<BuildSchemaAgg>();
  bool weighted = n == "percentilew" || n == "percentilesw" || n == "percentilesw_array";
  return std::make_unique<WeightedPercentileAgg>(types, params, weighted, n.ends_with("_array"));
}

}  // namespace cmk::kql::agg
