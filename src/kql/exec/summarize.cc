// summarize (and distinct, count): hash aggregation over chunks (HashAggregation, which
// make-series uses too).
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include "kql/core/hashed_view.h"
#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/aggregates.h"

namespace cmk::kql {

namespace {

// `summarize max(X), min(Y)` straight over a scan, without keys: each value is the one a `top 1`
// finds (ScanExtreme: one column, the blocks whose footer extreme can win, ~one block each)
// instead of a scan of every row. nullopt (nothing run that matters) when another aggregate,
// another input or an answer the top can't give (no value, a NaN) is in the way.
Result<std::optional<Table>> ExtremesOverScan(const PlanNode& node, const ExecContext& ctx) {
  const PlanNode& in = *node.inputs[0];
  if (!node.exprs.empty() || in.kind != NodeKind::kScan || node.aggs.empty()) return std::optional<Table>();
  for (const BoundAggregate& a : node.aggs) {
    std::string_view name = a.def->name;
    if ((name != "max" && name != "min") || a.args.size() != 1 || a.args[0].kind != BoundExpr::Kind::kColumn ||
        !(UsesInts(a.args[0].type) || UsesReals(a.args[0].type))) {
      return std::optional<Table>();
    }
  }
  Table out;
  out.rows = 1;
  for (const BoundAggregate& a : node.aggs) {
    ASSIGN_OR_RETURN(std::optional<ScanRequest::ValueBound> b,
                     ScanExtreme(in, a.args[0].column, a.def->name == std::string_view("max"), ctx));
    if (!b || b->real != UsesReals(a.types[0])) return std::optional<Table>();
    Column c(a.types[0]);
    if (b->real) c.AppendReal(b->d);
    else c.AppendInt(b->i);
    out.AddColumn("", std::move(c));
  }
  return std::optional<Table>(std::move(out));
}

}  // namespace

Status RunSummarize(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(std::optional<Table> extremes, ExtremesOverScan(node, ctx));
  if (extremes) return sink(Chunk::Own(std::move(*extremes)));
  HashAggregation agg(node, node.exprs);
  ASSIGN_OR_RETURN(bool pushed, PushSummarize(node, agg, ctx));
  if (!pushed) RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) { return agg.Consume(chunk, ctx); }));
  if (node.any_order) return agg.FinishEach([&](Table t) { return sink(Chunk::Own(std::move(t))); });
  return sink(Chunk::Own(agg.Finish(ctx.catalog)));
}

// ---- Hash aggregation.

namespace {
// Group ids of a keyless aggregation's rows (every one 0), shared: no ids written per chunk.
constexpr size_t kZeroIds = 64 * 1024;
const std::vector<uint32_t>& ZeroIds() {
  static const std::vector<uint32_t> zeros(kZeroIds, 0);
  return zeros;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// Each row's share among `parts` (a power of two) by its keys' values, the same for every row
// of one group whatever aggregation holds it (string ids, dictionaries and the like differ
// between aggregations; the values don't): a null apart from every value, reals by their bits
// with -0.0 as 0.0, strings by their text, other types by EncodeKey's bytes, as the groups.
void ShareRows(const std::vector<const Column*>& keys, size_t rows, size_t parts, std::vector<uint32_t>& order,
               std::vector<uint32_t>& offsets) {
  std::vector<uint64_t> h(rows, 0x9E3779B97F4A7C15ull);
  std::vector<uint64_t> entry_hashes;
  std::string buf;
  for (const Column* k : keys) {
    const Column& c = *k;
    auto mix = [&](size_t r, uint64_t v) {
      uint64_t x = (h[r] ^ v) * 0xBF58476D1CE4E5B9ull;
      h[r] = x ^ (x >> 31);
    };
    constexpr uint64_t kNull = 0x2545F4914F6CDD1Dull;
    if (UsesInts(c.type)) {
      for (size_t r = 0; r < rows; ++r) mix(r, c.IsNull(r) ? kNull : static_cast<uint64_t>(c.Int(r)) * 0x94D049BB133111EBull);
    } else if (UsesReals(c.type)) {
      for (size_t r = 0; r < rows; ++r) {
        if (c.IsNull(r)) {
          mix(r, kNull);
          continue;
        }
        double v = c.Real(r);
        if (v == 0) v = 0;  // -0.0 and 0.0 group together
        uint64_t bits;
        std::memcpy(&bits, &v, sizeof(bits));
        mix(r, bits * 0x94D049BB133111EBull);
      }
    } else if (c.coded()) {
      entry_hashes.resize(c.dict->size());
      for (size_t e = 0; e < c.dict->size(); ++e) entry_hashes[e] = HashString((*c.dict)[e]);
      for (size_t r = 0; r < rows; ++r) mix(r, c.IsNull(r) ? kNull : entry_hashes[c.codes[c.Index(r)]]);
    } else if (UsesStrings(c.type)) {
      for (size_t r = 0; r < rows; ++r) mix(r, c.IsNull(r) ? kNull : HashString(c.Str(r)));
    } else {
      for (size_t r = 0; r < rows; ++r) {
        buf.clear();
        EncodeKey(c, r, buf);
        mix(r, HashString(buf));
      }
    }
  }
  // Counting sort by the hash's top bits.
  const int shift = 64 - std::countr_zero(parts);
  offsets.assign(parts + 1, 0);
  if (parts == 1) {
    order.resize(rows);
    for (size_t r = 0; r < rows; ++r) order[r] = static_cast<uint32_t>(r);
    offsets[1] = static_cast<uint32_t>(rows);
    return;
  }
  for (size_t r = 0; r < rows; ++r) {
    h[r] >>= shift;
    ++offsets[h[r] + 1];
  }
  for (size_t p = 0; p < parts; ++p) offsets[p + 1] += offsets[p];
  std::vector<uint32_t> next(offsets.begin(), offsets.end() - 1);
  order.resize(rows);
  for (size_t r = 0; r < rows; ++r) order[next[h[r]]++] = static_cast<uint32_t>(r);
}
}  // namespace

struct HashAggregation::State {
  const PlanNode* node = nullptr;
  const std::vector<BoundExpr>* keys = nullptr;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> groups;
  // The single-key maps are Boost's open-addressing flat maps: a group lookup per row, where
  // std::unordered_map's nodes cost a cache miss each.
  boost::unordered_flat_map<int64_t, uint32_t> int_groups;
  // Single string key: views of `key_values[0]`'s strings would move when it grows (short
  // strings live inside std::string), so the map's views point into `string_keys`, a deque
  // whose elements never move. Each with its hash: a partial's hashes serve the merge.
  boost::unordered_flat_map<HashedView, uint32_t, HashedViewHash> string_groups;
  std::deque<std::string> string_keys;
  // One to four keys (a single one of reals and the like): a row's key packed in words (ints
  // and reals as their bits, strings as their id among that key's distinct strings, nulls as a
  // mask), one probe of an open-addressing table instead of the keys' bytes concatenated and
  // hashed into a node map. A slot is the key's words, its null mask and its group, as wide as
  // the keys need (24 bytes for two: a table of millions of groups is half what four words made
  // it, and a probe touches less).
  template <size_t N>
  struct PackedEntry {
    std::array<uint64_t, N> w{};
    uint32_t nulls = 0;
    uint32_t group = 0;  // not part of the key
  };
  struct PackedKeyHash {
    template <size_t N>
    size_t operator()(const PackedEntry<N>& k) const {
      uint64_t h = k.nulls;
      for (uint64_t w : k.w) {
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
      }
      return static_cast<size_t>(h);
    }
  };
  struct PackedKeyEq {
    template <size_t N>
    bool operator()(const PackedEntry<N>& a, const PackedEntry<N>& b) const {
      return a.w == b.w && a.nulls == b.nulls;
    }
  };
  template <size_t N>
  using PackedTable = boost::unordered_flat_set<PackedEntry<N>, PackedKeyHash, PackedKeyEq>;
  static constexpr size_t kMaxPackedKeys = 4;
  std::tuple<PackedTable<1>, PackedTable<2>, PackedTable<3>, PackedTable<4>> packed_groups;  // by key count
  std::vector<boost::unordered_flat_map<HashedView, uint32_t, HashedViewHash>> key_string_ids;
  std::deque<std::string> key_strings;  // the views' strings (deque elements never move)
  // Packed string keys keep each group's string id, not a copy of its text (4 bytes a group
  // where a std::string was 32 and its text again): `ided[i]`, `key_ids[i]` (kNullId for a
  // null), `id_strings[i]` each id's text. KeyColumn builds the text column when asked.
  static constexpr uint32_t kNullId = UINT32_MAX;
  std::vector<bool> ided;
  std::vector<std::vector<uint32_t>> key_ids;
  std::vector<std::vector<std::string_view>> id_strings;
  // KeyColumn's dictionaries, per id key: rebuilt when the key has more strings (ids only grow;
  // one thread at a time builds an aggregation's columns).
  mutable std::vector<std::shared_ptr<const std::vector<std::string>>> dicts;
  // Key i's values of every group (`all`) or of groups `which`, as a column. An id key's is
  // dictionary-coded over its strings when they fit a dictionary and no value is null (2 bytes
  // a group, where a std::string was 32: `count() by Computer, bin(TimeGenerated, 10s)` builds
  // 7M of them), else its strings packed end to end.
  Column KeyColumn(size_t i, std::span<const uint32_t> which, bool all) const {
    if (!ided[i]) return all ? key_values[i] : Gather(key_values[i], which);
    const std::vector<uint32_t>& ids = key_ids[i];
    const size_t n = all ? ids.size() : which.size();
    auto id_at = [&](size_t j) { return all ? ids[j] : ids[which[j]]; };
    static const std::vector<std::string_view> kNone;
    const std::vector<std::string_view>& strings = i < id_strings.size() ? id_strings[i] : kNone;
    Column out(key_values[i].type);
    if (strings.size() <= kMaxDictEntries) {
      out.codes.resize(n);
      bool nulls = false;
      for (size_t j = 0; j < n && !nulls; ++j) {
        uint32_t id = id_at(j);
        nulls = id == kNullId;
        out.codes[j] = static_cast<Code>(id);
      }
      if (!nulls) {
        // One dictionary for every column built while the key's strings stay the same (a
        // thread's groups go to the shares one share at a time: a copy of the strings each).
        if (i >= dicts.size()) dicts.resize(i + 1);
        if (dicts[i] == nullptr || dicts[i]->size() != strings.size()) {
          dicts[i] = std::make_shared<const std::vector<std::string>>(strings.begin(), strings.end());
        }
        out.dict = dicts[i];
        return out;
      }
      out.codes = {};
    }
    size_t bytes = 0;
    for (size_t j = 0; j < n; ++j) {
      uint32_t id = id_at(j);
      bytes += id == kNullId ? 4 : strings[id].size();
    }
    out.StartPacked(n, bytes);
    for (size_t j = 0; j < n; ++j) {
      uint32_t id = id_at(j);
      if (id == kNullId) {
        out.AppendNull();
      } else {
        out.AppendPacked(strings[id]);
        if (out.HasNulls()) out.nulls.push_back(0);
      }
    }
    return out;
  }
  std::vector<std::vector<uint32_t>> key_code_ids;  // per coded key: entry -> string id (this chunk)
  std::vector<uint32_t> code_groups;  // a coded key's dictionary entry -> group (this chunk)
  std::vector<size_t> key_hashes;  // a partial's coded key: each group's string hashed
  int64_t null_group = -1;
  std::vector<Column> key_values;
  // The keys as grouped (`keys` points here when one was rewritten): `by tostring(x)` of an
  // integral, datetime or timespan x groups by x, and the groups' keys become strings in
  // Finish (`stringify`): tostring is one-to-one on those types, null apart from every value,
  // so the groups are the same without a string built and hashed per row.
  std::vector<BoundExpr> own_keys;
  std::vector<const ScalarFunction*> stringify;  // per key: the tostring to apply, or null
  std::vector<std::unique_ptr<Aggregator>> aggs;
  size_t num_groups = 0;
  std::vector<uint32_t> ids;
  std::span<const uint32_t> row_groups;  // the last chunk's rows' groups (`ids`, or ZeroIds)
  std::string buf;
  size_t key_bytes = 0;  // strings held by the keys (key_values, string_keys, groups)
  std::unique_ptr<MemoryReservation> held;
  bool one_chunk = false;  // see the constructor
  // SetSequence: per group, the least place in the scan it was seen at (its chunk's seq plus
  // its row there; kUnplaced until known).
  static constexpr uint64_t kUnplaced = UINT64_MAX;
  bool tagging = false;
  uint64_t seq = 0;
  std::vector<uint64_t> seen;
  // The next chunk's rows' places in the scan's chunk `seq`, when it is a share of its rows
  // (SetSequence); empty: its own.
  std::vector<uint32_t> places;
  uint64_t Place(size_t row) const { return places.empty() ? row : places[row]; }
  // Parts taken by AdoptParts: aggregations of disjoint groups, finished one after another.
  std::vector<std::unique_ptr<HashAggregation>> parts;
  // Whether a group seen again may have been first seen later than here: only in a chunk that
  // comes before one already aggregated (chunks reach a reader thread in scan order, but for
  // a catalog that hands them out otherwise). Else SeenAgain changes nothing and is skipped: a
  // random write a row (~180K groups' places at 10M) for nothing.
  bool again = false;
  uint64_t max_seq = 0;
  // Each chunk consumed or aggregation merged: its seq (a merge's: the greatest it holds) and
  // the first group it could have made. A group made by one that came before this chunk in the
  // scan was seen before it: only groups from `again_from` on can be seen first here (~the last
  // chunk's or two, where every group seen again was looked up: a random read a row, 11% of
  // `count() by Computer, bin(TimeGenerated, 1m)` over shares fed by two threads).
  std::vector<std::pair<uint64_t, uint32_t>> made;
  uint32_t again_from = 0;
  void SeenAgain(uint32_t g, size_t row) {
    if (g < again_from) return;
    uint64_t here = seq + Place(row);
    if (here < seen[g]) seen[g] = here;
  }

  // A new group of packed keys: its string keys' ids from `w` (kNullId where `nulls` says).
  template <size_t N>
  uint32_t NewPackedGroup(const std::vector<const Column*>& k, size_t row, const std::array<uint64_t, N>& w,
                          uint32_t nulls) {
    for (size_t i = 0; i < N; ++i) {
      if (ided[i]) key_ids[i].push_back((nulls >> i) & 1 ? kNullId : static_cast<uint32_t>(w[i]));
      else key_values[i].AppendFrom(*k[i], row);
    }
    if (tagging) seen.push_back(seq + Place(row));
    return static_cast<uint32_t>(num_groups++);
  }
  uint32_t NewGroup(const std::vector<const Column*>& k, size_t row) {
    for (size_t i = 0; i < k.size(); ++i) {
      key_values[i].AppendFrom(*k[i], row);
      if (UsesStrings(k[i]->type)) key_bytes += 2 * k[i]->Str(row).size();
    }
    if (tagging) seen.push_back(seq + Place(row));
    return static_cast<uint32_t>(num_groups++);
  }
  // The group of a single string key's row: its stored copy's entry in string_groups.
  uint32_t StringGroup(const std::vector<const Column*>& k, size_t r) {
    return StringGroup(k, r, HashString(k[0]->Str(r)));
  }
  uint32_t StringGroup(const std::vector<const Column*>& k, size_t r, size_t hash) {
    std::string_view v = k[0]->Str(r);
    auto it = string_groups.find(HashedView{v, hash});
    if (it == string_groups.end()) {
      const std::string& stored = string_keys.emplace_back(v);
      it = string_groups.emplace(HashedView{stored, hash}, NewGroup(k, r)).first;
    } else if (again) {
      SeenAgain(it->second, r);
    }
    return it->second;
  }
  // A coded key: each dictionary entry is hashed once per chunk, not once per row.
  void AssignCodedIds(const std::vector<const Column*>& k, size_t rows) {
    const Column& c = *k[0];
    constexpr uint32_t kUnseen = UINT32_MAX;
    code_groups.assign(c.dict->size(), kUnseen);
    if (!c.HasNulls() && !c.constant) {
      // The common case in a tight loop: the codes and the groups through pointers (the loop
      // above reloads the column's vectors after every NewGroup, which may grow key_values).
      const Code* codes = c.codes.data();
      uint32_t* groups = code_groups.data();
      uint32_t* out = ids.data();
      for (size_t r = 0; r < rows; ++r) {
        uint32_t g = groups[codes[r]];
        if (g == kUnseen) g = groups[codes[r]] = one_chunk ? NewGroup(k, r) : StringGroup(k, r);
        out[r] = g;
      }
      return;
    }
    for (size_t r = 0; r < rows; ++r) {
      if (c.IsNull(r)) {  // dynamic null
        if (null_group < 0) null_group = NewGroup(k, r);
        else if (again) SeenAgain(static_cast<uint32_t>(null_group), r);
        ids[r] = static_cast<uint32_t>(null_group);
        continue;
      }
      uint32_t& g = code_groups[c.codes[c.Index(r)]];
      if (g == kUnseen) g = one_chunk ? NewGroup(k, r) : StringGroup(k, r);
      ids[r] = g;
    }
  }
  void AssignStringIds(const std::vector<const Column*>& k, size_t rows) {
    const Column& c = *k[0];
    if (c.coded()) return AssignCodedIds(k, rows);
    for (size_t r = 0; r < rows; ++r) {
      if (c.IsNull(r)) {  // dynamic null (strings are never null)
        if (null_group < 0) null_group = NewGroup(k, r);
        else if (again) SeenAgain(static_cast<uint32_t>(null_group), r);
        ids[r] = static_cast<uint32_t>(null_group);
        continue;
      }
      ids[r] = StringGroup(k, r);
    }
  }
  // A partial aggregation's coded key without nulls: its groups are the chunk's dictionary
  // entries in the order they first appear, and its key column stays coded (the dictionary
  // shared, each group one code: no string copied or hashed here; Merge hashes each once).
  // Without aggregates (distinct) no row's group is written.
  void AssignOneChunkCodes(const Column& c, size_t rows) {
    constexpr uint32_t kUnseen = UINT32_MAX;
    Column& keys = key_values[0];
    keys.dict = c.dict;
    code_groups.assign(c.dict->size(), kUnseen);
    const Code* codes = c.codes.data();
    uint32_t* groups = code_groups.data();
    auto first_seen = [&](Code code) {
      keys.codes.push_back(code);
      key_hashes.push_back(HashString((*c.dict)[code]));
      return groups[code] = static_cast<uint32_t>(num_groups++);
    };
    // Four rows a step, one test for all four: groups are below 2^16 (kMaxDictEntries), so
    // their bitwise or is kUnseen only when one of them is.
    if (aggs.empty()) {
      // Without rows' groups to write, the rows after the one that shows the dictionary's last
      // entry can add nothing: a block's dictionary holds the values of its rows, so over a
      // whole block (no filter) that is usually a few thousand rows in.
      row_groups = {};
      const size_t entries = c.dict->size();
      size_t r = 0;
      for (; r + 4 <= rows; r += 4) {
        if ((groups[codes[r]] | groups[codes[r + 1]] | groups[codes[r + 2]] | groups[codes[r + 3]]) != kUnseen) continue;
        for (size_t i = r; i < r + 4; ++i) {
          if (groups[codes[i]] == kUnseen) first_seen(codes[i]);
        }
        if (num_groups == entries) return;
      }
      for (; r < rows; ++r) {
        if (groups[codes[r]] == kUnseen) first_seen(codes[r]);
      }
      return;
    }
    ids.resize(rows);
    row_groups = ids;
    uint32_t* out = ids.data();
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
      uint32_t g0 = groups[codes[r]], g1 = groups[codes[r + 1]], g2 = groups[codes[r + 2]], g3 = groups[codes[r + 3]];
      if ((g0 | g1 | g2 | g3) != kUnseen) {
        out[r] = g0, out[r + 1] = g1, out[r + 2] = g2, out[r + 3] = g3;
        continue;
      }
      for (size_t i = r; i < r + 4; ++i) {
        uint32_t g = groups[codes[i]];
        out[i] = g != kUnseen ? g : first_seen(codes[i]);
      }
    }
    for (; r < rows; ++r) {
      uint32_t g = groups[codes[r]];
      out[r] = g != kUnseen ? g : first_seen(codes[r]);
    }
  }
  // A single int key whose chunk's values lie within kDenseRange of each other (an hour of
  // the day, a status code, an event id): each distinct value is looked up in `int_groups`
  // once per chunk, through an array indexed by its distance from the chunk's least value,
  // instead of once per row (the flat map's probe was two thirds of `count() by
  // hourofday(TimeGenerated)`). False, nothing assigned, when the values spread wider.
  static constexpr uint64_t kDenseRange = 4096;
  std::vector<uint32_t> dense_groups;
  bool AssignDenseIntIds(const std::vector<const Column*>& k, size_t rows) {
    const Column& c = *k[0];
    const int64_t* v = c.ints.data();
    const bool nulls = c.HasNulls();
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t r = 0; r < rows; ++r) {
      if (nulls && c.nulls[r] != 0) continue;
      lo = std::min(lo, v[r]);
      hi = std::max(hi, v[r]);
    }
    if (lo > hi) return false;  // every value null
    uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);  // no overflow
    if (range >= kDenseRange || range >= rows) return false;  // an array larger than the chunk
    constexpr uint32_t kUnseen = UINT32_MAX;
    dense_groups.assign(range + 1, kUnseen);
    for (size_t r = 0; r < rows; ++r) {
      if (nulls && c.nulls[r] != 0) {
        if (null_group < 0) null_group = NewGroup(k, r);
        else if (again) SeenAgain(static_cast<uint32_t>(null_group), r);
        ids[r] = static_cast<uint32_t>(null_group);
        continue;
      }
      uint32_t& g = dense_groups[static_cast<uint64_t>(v[r]) - static_cast<uint64_t>(lo)];
      if (g == kUnseen) {
        auto [it, inserted] = int_groups.try_emplace(v[r], 0);
        if (inserted) it->second = NewGroup(k, r);
        else if (again) SeenAgain(it->second, r);
        g = it->second;
      }
      ids[r] = g;
    }
    return true;
  }

  // Key i's id for string `v` (ids count the key's distinct strings from 0).
  uint64_t StringId(size_t i, std::string_view v) {
    auto& ids_of = key_string_ids[i];
    size_t hash = HashString(v);
    auto it = ids_of.find(HashedView{v, hash});
    if (it != ids_of.end()) return it->second;
    const std::string& stored = key_strings.emplace_back(v);
    key_bytes += v.size() + 48;  // the stored copy and its map slot
    uint32_t id = static_cast<uint32_t>(ids_of.size());
    ids_of.emplace(HashedView{stored, hash}, id);
    if (id_strings.size() <= i) id_strings.resize(i + 1);
    id_strings[i].push_back(stored);
    return id;
  }
  // The same groups as EncodeKey's bytes would make: a null apart from every value, reals by
  // their bits with -0.0 as 0.0, strings by their text.
  void AssignPackedIds(const std::vector<const Column*>& k, size_t rows) {
    switch (k.size()) {
      case 1: return AssignPackedIds(k, rows, std::get<0>(packed_groups));
      case 2: return AssignPackedIds(k, rows, std::get<1>(packed_groups));
      case 3: return AssignPackedIds(k, rows, std::get<2>(packed_groups));
      default: return AssignPackedIds(k, rows, std::get<3>(packed_groups));
    }
  }
  template <size_t N>
  void AssignPackedIds(const std::vector<const Column*>& k, size_t rows, PackedTable<N>& table) {
    constexpr uint32_t kUnseen = UINT32_MAX;
    key_string_ids.resize(k.size());
    key_code_ids.resize(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      if (k[i]->coded()) key_code_ids[i].assign(k[i]->dict->size(), kUnseen);
    }
    for (size_t r = 0; r < rows; ++r) {
      PackedEntry<N> key;
      for (size_t i = 0; i < N; ++i) {
        const Column& c = *k[i];
        if (c.IsNull(r)) {
          key.nulls |= 1u << i;
        } else if (UsesInts(c.type)) {
          key.w[i] = static_cast<uint64_t>(c.Int(r));
        } else if (UsesReals(c.type)) {
          double v = c.Real(r);
          if (v == 0) v = 0;  // -0.0 and 0.0 group together
          std::memcpy(&key.w[i], &v, sizeof(v));
        } else if (c.coded()) {
          uint32_t& id = key_code_ids[i][c.codes[c.Index(r)]];
          if (id == kUnseen) id = static_cast<uint32_t>(StringId(i, c.Str(r)));
          key.w[i] = id;
        } else {
          key.w[i] = StringId(i, c.Str(r));
        }
      }
      key.group = static_cast<uint32_t>(num_groups);  // the group it starts, if new
      auto [it, inserted] = table.insert(key);
      if (inserted) NewPackedGroup(k, r, key.w, key.nulls);  // (its id is num_groups, as written above)
      else if (again) SeenAgain(it->group, r);
      ids[r] = it->group;
    }
  }
  // `later`'s groups here, by the hashes its coded key's strings were given where it ran.
  void AssignHashedIds(const State& later) {
    std::vector<const Column*> k{&later.key_values[0]};
    ids.resize(later.num_groups);
    row_groups = ids;
    for (size_t g = 0; g < later.num_groups; ++g) ids[g] = StringGroup(k, g, later.key_hashes[g]);
  }
  void AssignIds(const std::vector<const Column*>& k, size_t rows) {
    if (one_chunk && k.size() == 1 && k[0]->coded() && !k[0]->HasNulls() && !k[0]->constant &&
        num_groups == 0 && key_values[0].stored() == 0) {
      return AssignOneChunkCodes(*k[0], rows);
    }
    if (k.empty() && rows <= kZeroIds) {
      row_groups = std::span<const uint32_t>(ZeroIds().data(), rows);
      num_groups = 1;
      return;
    }
    ids.resize(rows);
    row_groups = ids;
    if (k.empty()) {
      std::fill(ids.begin(), ids.end(), 0);
      num_groups = 1;
      return;
    }
    if (k.size() == 1 && UsesStrings(k[0]->type)) return AssignStringIds(k, rows);
    if (k.size() == 1 && UsesInts(k[0]->type)) {
      const Column& c = *k[0];
      if (!c.constant && AssignDenseIntIds(k, rows)) return;
      for (size_t r = 0; r < rows; ++r) {
        if (c.IsNull(r)) {
          if (null_group < 0) null_group = NewGroup(k, r);
          else if (again) SeenAgain(static_cast<uint32_t>(null_group), r);
          ids[r] = static_cast<uint32_t>(null_group);
          continue;
        }
        auto [it, inserted] = int_groups.try_emplace(c.Int(r), 0);
        if (inserted) it->second = NewGroup(k, r);
        else if (again) SeenAgain(it->second, r);
        ids[r] = it->second;
      }
      return;
    }
    if (k.size() <= kMaxPackedKeys) return AssignPackedIds(k, rows);
    for (size_t r = 0; r < rows; ++r) {
      buf.clear();
      for (const Column* c : k) EncodeKey(*c, r, buf);
      auto it = groups.find(std::string_view(buf));
      if (it == groups.end()) it = groups.emplace(buf, NewGroup(k, r)).first;
      else if (again) SeenAgain(it->second, r);
      ids[r] = it->second;
    }
  }
};

HashAggregation::HashAggregation(const PlanNode& node, const std::vector<BoundExpr>& keys, bool one_chunk)
    : s_(std::make_unique<State>()) {
  s_->node = &node;
  s_->one_chunk = one_chunk;
  s_->keys = &keys;
  auto of_ints = [](const BoundExpr& k) {
    return k.kind == BoundExpr::Kind::kCall && k.fn != nullptr && k.fn->name == "tostring" && k.args.size() == 1 &&
           k.type == Type::kString && UsesInts(k.args[0].type);
  };
  if (std::any_of(keys.begin(), keys.end(), of_ints)) {
    s_->own_keys = keys;
    s_->stringify.assign(keys.size(), nullptr);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!of_ints(keys[i])) continue;
      s_->stringify[i] = keys[i].fn;
      s_->own_keys[i] = keys[i].args[0];
    }
    s_->keys = &s_->own_keys;
  }
  for (const BoundExpr& k : *s_->keys) s_->key_values.emplace_back(k.type);
  const size_t nk = s_->keys->size();
  s_->ided.assign(nk, false);
  for (size_t i = 0; i < nk; ++i) {
    s_->ided[i] = nk >= 2 && nk <= State::kMaxPackedKeys && UsesStrings((*s_->keys)[i].type);
  }
  s_->key_ids.resize(nk);
  for (const BoundAggregate& a : node.aggs) s_->aggs.push_back(MakeAggregator(*a.def, a.types, a.params));
  if (keys.empty()) s_->num_groups = 1;
}

HashAggregation::~HashAggregation() = default;

Status HashAggregation::Consume(const Chunk& chunk, const ExecContext& ctx) {
  if (chunk.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(*s_->keys, chunk, ctx));
  s_->AssignIds(Pointers(keys), chunk.rows);
  FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
  for (size_t i = 0; i < s_->aggs.size(); ++i) {
    std::vector<ColumnValue> values;
    std::vector<const Column*> ptrs;
    for (const BoundExpr& a : s_->node->aggs[i].args) {
      ASSIGN_OR_RETURN(ColumnValue v, Eval(a, chunk, fctx));
      values.push_back(std::move(v));
    }
    for (ColumnValue& v : values) ptrs.push_back(&v.get());
    s_->aggs[i]->Update(ptrs, s_->row_groups, s_->num_groups);
  }
  if (s_->one_chunk) {  // a partial, merged later: its aggregates prepare for that here
    for (auto& a : s_->aggs) a->Seal();
  }
  s_->places.clear();
  return Charge(ctx);
}

namespace {
// The bytes of an open-addressing table's slots (and their metadata, ~1 byte a slot).
template <typename T>
size_t FlatBytes(const T& t) {
  return t.bucket_count() * (sizeof(typename T::value_type) + 2);
}
size_t ColumnBytes(const Column& c) {
  return c.ints.capacity() * sizeof(int64_t) + c.reals.capacity() * sizeof(double) +
         c.strings.capacity() * sizeof(std::string) + c.codes.capacity() * sizeof(Code) + c.nulls.capacity() +
         c.chars.capacity() + c.offsets.capacity() * sizeof(uint32_t);
}
}  // namespace

size_t HashAggregation::HeldBytes() const {
  // The tables as allocated, the keys' columns and the places, the strings the keys hold
  // (key_bytes), each aggregate's words a group and what grows with the values (lists, sets,
  // percentiles).
  const State& s = *s_;
  size_t bytes = s.key_bytes + s.groups.size() * 96 + s.groups.bucket_count() * sizeof(void*);
  bytes += FlatBytes(s.int_groups) + FlatBytes(s.string_groups) + s.string_keys.size() * sizeof(std::string);
  std::apply([&](const auto&... t) { ((bytes += FlatBytes(t)), ...); }, s.packed_groups);
  for (const auto& m : s.key_string_ids) bytes += FlatBytes(m);
  bytes += s.key_strings.size() * sizeof(std::string);
  for (const Column& c : s.key_values) bytes += ColumnBytes(c);
  for (const auto& ids : s.key_ids) bytes += ids.capacity() * sizeof(uint32_t);
  for (const auto& views : s.id_strings) bytes += views.capacity() * sizeof(std::string_view);
  bytes += s.seen.capacity() * sizeof(uint64_t) + s.ids.capacity() * sizeof(uint32_t) +
           s.key_hashes.capacity() * sizeof(size_t) + s.dense_groups.capacity() * sizeof(uint32_t);
  for (const auto& a : s.aggs) bytes += a->GroupBytes(s.num_groups) + a->StateBytes();
  for (const auto& p : s.parts) bytes += p->HeldBytes();
  return bytes;
}

Status HashAggregation::Charge(const ExecContext& ctx) {
  if (!s_->held) s_->held = std::make_unique<MemoryReservation>(ctx.budget, "summarize");
  RETURN_IF_ERROR(s_->held->Resize(HeldBytes()));
  return CheckBudget(ctx);
}

void HashAggregation::SetSequence(uint64_t seq, std::span<const uint32_t> rows) {
  s_->places.assign(rows.begin(), rows.end());
  s_->tagging = true;
  s_->seq = seq;
  s_->again = seq < s_->max_seq;
  if (s_->again) {
    uint32_t from = static_cast<uint32_t>(s_->num_groups);
    for (const auto& [at, first] : s_->made) {
      if (at >= seq) from = std::min(from, first);
    }
    s_->again_from = from;
  }
  s_->made.emplace_back(seq, static_cast<uint32_t>(s_->num_groups));
  s_->max_seq = std::max(s_->max_seq, seq);
}

bool HashAggregation::Mergeable() const {
  return std::all_of(s_->aggs.begin(), s_->aggs.end(), [](const auto& a) { return a->Mergeable(); });
}

Status HashAggregation::Merge(const HashAggregation& later, const ExecContext& ctx) {
  const State& o = *later.s_;
  // `later`'s groups, in their order, are rows of its key columns: each one's group here.
  if (!s_->keys->empty() && o.num_groups == 0) return CheckBudget(ctx);
  size_t before = s_->num_groups;
  const bool tagging = s_->tagging, again = s_->again;
  s_->tagging = false;  // `later`'s groups are not rows of a chunk: their places are its own
  s_->again = false;
  if (!o.key_hashes.empty() && !s_->one_chunk) {
    s_->AssignHashedIds(o);
  } else {
    std::vector<Column> built;  // `later`'s string keys kept as ids, as text
    built.reserve(o.key_values.size());
    std::vector<const Column*> keys;
    for (size_t i = 0; i < o.key_values.size(); ++i) {
      keys.push_back(o.ided[i] ? &built.emplace_back(o.KeyColumn(i, {}, true)) : &o.key_values[i]);
    }
    s_->AssignIds(keys, o.num_groups);
  }
  s_->tagging = tagging;
  s_->again = again;
  if (tagging) {
    s_->max_seq = std::max(s_->max_seq, o.max_seq);  // (as MergeSome)
    s_->made.emplace_back(o.max_seq, static_cast<uint32_t>(before));
    s_->seen.resize(s_->num_groups, State::kUnplaced);
    for (size_t g = 0; g < o.num_groups && o.tagging && g < o.seen.size(); ++g) {
      uint32_t id = s_->row_groups[g];
      if (id >= before || o.seen[g] < s_->seen[id]) s_->seen[id] = o.seen[g];
    }
  }
  for (size_t i = 0; i < s_->aggs.size(); ++i) s_->aggs[i]->Merge(*o.aggs[i], s_->row_groups, s_->num_groups);
  return Charge(ctx);
}

Status HashAggregation::Adopt(HashAggregation& other, const ExecContext& ctx) {
  if (s_->num_groups != 0) return FailedPrecondition("summarize: only an empty aggregation adopts another");
  std::unique_ptr<MemoryReservation> held = std::move(s_->held);  // this one's, on ctx's budget
  std::swap(s_, other.s_);
  other.s_->held = std::move(s_->held);
  s_->held = std::move(held);
  return Charge(ctx);
}

Status HashAggregation::ShareChunk(const Chunk& chunk, const ExecContext& ctx, size_t parts,
                                   std::vector<uint32_t>& order, std::vector<uint32_t>& offsets) const {
  if (parts == 0 || !std::has_single_bit(parts) || parts > 256) {
    return InvalidArgument("summarize: shares must be a power of two up to 256");
  }
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(*s_->keys, chunk, ctx));
  ShareRows(Pointers(keys), chunk.rows, parts, order, offsets);
  return OkStatus();
}

void HashAggregation::ShareGroups(size_t parts, std::vector<uint32_t>& order, std::vector<uint32_t>& offsets) const {
  std::vector<Column> built;
  built.reserve(s_->key_values.size());
  std::vector<const Column*> keys;
  for (size_t i = 0; i < s_->key_values.size(); ++i) {
    keys.push_back(s_->ided[i] ? &built.emplace_back(s_->KeyColumn(i, {}, true)) : &s_->key_values[i]);
  }
  ShareRows(keys, s_->num_groups, parts, order, offsets);
}

Status HashAggregation::MergeSome(const HashAggregation& later, std::span<const uint32_t> which,
                                  const ExecContext& ctx) {
  const State& o = *later.s_;
  if (which.empty() || o.keys->empty()) return CheckBudget(ctx);
  std::vector<Column> keys;
  std::vector<const Column*> ptrs;
  keys.reserve(o.key_values.size());
  for (size_t i = 0; i < o.key_values.size(); ++i) ptrs.push_back(&keys.emplace_back(o.KeyColumn(i, which, false)));
  size_t before = s_->num_groups;
  const bool tagging = s_->tagging, again = s_->again;
  s_->tagging = false;  // `later`'s groups are not rows of a chunk: their places are its own
  s_->again = false;
  s_->AssignIds(ptrs, which.size());
  s_->tagging = tagging;
  s_->again = again;
  std::vector<uint32_t> to(o.num_groups, kNoGroup);
  for (size_t j = 0; j < which.size(); ++j) to[which[j]] = s_->row_groups[j];
  if (tagging) {
    // Chunks consumed after this that come before `later`'s in the scan may see its groups first.
    s_->max_seq = std::max(s_->max_seq, o.max_seq);
    s_->made.emplace_back(o.max_seq, static_cast<uint32_t>(before));
    s_->seen.resize(s_->num_groups, State::kUnplaced);
    for (uint32_t g : which) {
      if (!o.tagging || g >= o.seen.size()) break;
      uint32_t id = to[g];
      if (id >= before || o.seen[g] < s_->seen[id]) s_->seen[id] = o.seen[g];
    }
  }
  for (size_t i = 0; i < s_->aggs.size(); ++i) s_->aggs[i]->Merge(*o.aggs[i], to, s_->num_groups);
  return Charge(ctx);
}

Status HashAggregation::AdoptParts(std::vector<std::unique_ptr<HashAggregation>> parts, const ExecContext& ctx) {
  if (s_->num_groups != 0 || !s_->parts.empty() || s_->keys->empty()) {
    return FailedPrecondition("summarize: only an empty aggregation with keys adopts parts");
  }
  if (parts.size() > 256) return FailedPrecondition("summarize: at most 256 parts");  // (Finish's part index)
  for (auto& p : parts) {
    if (p == nullptr) continue;
    if (p->s_->node != s_->node || !p->s_->parts.empty()) {
      return FailedPrecondition("summarize: a part of another aggregation");
    }
    p->s_->held.reset();  // charged here from now on
    s_->parts.push_back(std::move(p));
  }
  return Charge(ctx);
}

size_t HashAggregation::num_groups() const {
  size_t n = s_->num_groups;
  for (const auto& p : s_->parts) n += p->num_groups();
  return n;
}

namespace {
// Runs f(begin, end) over [0, n) cut in ranges, through `run` (in parallel where it can).
using RunJobs = std::function<void(std::span<const std::function<void()>>)>;
void ForRanges(size_t n, const RunJobs& run, const std::function<void(size_t, size_t)>& f) {
  constexpr size_t kMinRange = 64 * 1024, kRanges = 16;
  const size_t pieces = std::clamp<size_t>(n / kMinRange, 1, kRanges);
  std::vector<std::function<void()>> jobs;
  for (size_t k = 0; k < pieces; ++k) jobs.push_back([&f, n, pieces, k] { f(n * k / pieces, n * (k + 1) / pieces); });
  run(jobs);
}

// The groups of `lists` (taken end to end: a part's groups after the one before's) in the
// order of their places in the scan. A catalog gives every row its own place, so the places
// are distinct and, with many groups, dense among the rows scanned (`count() by TimeGenerated`
// at 10M rows: 9.8M groups over 10M places): each group is written into its place's slot and
// the slots read in order, two linear passes. Sparser places are bucketed by their high bits
// and each bucket sorted (small sorts); so are equal places, should a catalog give any (the
// groups' own order breaks the tie).
std::vector<uint32_t> FirstSeenOrder(std::span<const std::vector<uint64_t>> lists, const RunJobs* run = nullptr) {
  size_t n = 0;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& l : lists) {
    n += l.size();
    for (uint64_t at : l) {
      lo = std::min(lo, at);
      hi = std::max(hi, at);
    }
  }
  std::vector<uint32_t> order;
  if (n == 0) return order;
  order.reserve(n);
  const uint64_t span = hi - lo;  // the places are in [lo, lo + span]
  constexpr uint32_t kEmpty = UINT32_MAX;
  if (span < 4 * uint64_t{n}) {
    const size_t slot_count = span + 1;
    auto slots = std::make_unique_for_overwrite<uint32_t[]>(slot_count);
    auto empty = [&](size_t begin, size_t end) { std::fill(slots.get() + begin, slots.get() + end, kEmpty); };
    if (run != nullptr) ForRanges(slot_count, *run, empty);  // (their pages first touched on every thread)
    else empty(0, slot_count);
    uint32_t g = 0;
    bool distinct = true;
    for (const auto& l : lists) {
      for (uint64_t at : l) {
        uint32_t& slot = slots[at - lo];
        distinct = distinct && slot == kEmpty;
        slot = g++;
      }
    }
    if (distinct) {
      for (size_t i = 0; i < slot_count; ++i) {
        if (slots[i] != kEmpty) order.push_back(slots[i]);
      }
      return order;
    }
  }
  // Bucket b holds the places whose offset from lo, shifted, is b: at most `buckets`.
  const size_t buckets = std::bit_ceil(n);
  const int shift = std::max(0, static_cast<int>(std::bit_width(span)) - std::countr_zero(buckets));
  std::vector<uint32_t> start(buckets + 1, 0);
  for (const auto& l : lists) {
    for (uint64_t at : l) ++start[((at - lo) >> shift) + 1];
  }
  for (size_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
  auto placed = std::make_unique_for_overwrite<std::pair<uint64_t, uint32_t>[]>(n);  // (place, group)
  {
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    uint32_t g = 0;
    for (const auto& l : lists) {
      for (uint64_t at : l) placed[next[(at - lo) >> shift]++] = {at, g++};
    }
  }
  for (size_t b = 0; b < buckets; ++b) {
    auto* first = placed.get() + start[b];
    auto* last = placed.get() + start[b + 1];
    if (last - first > 1 && !std::is_sorted(first, last)) std::sort(first, last);
  }
  for (size_t i = 0; i < n; ++i) order.push_back(placed[i].second);
  return order;
}

// Whether column c of every table is a plain column of one storage (not constant, coded or
// packed), as GatherParts takes it.
bool PlainParts(const std::vector<Table>& tables, size_t c) {
  const Type type = tables.front().columns[c].type;
  return std::all_of(tables.begin(), tables.end(), [&](const Table& t) {
    const Column& col = t.columns[c];
    return col.type == type && !col.constant && !col.coded() && !col.packed();
  });
}

// Column c of `tables` (rows end to end, table p's from base[p]) at rows `order`, a
// permutation of them all, row order[i] being table part[i]'s (strings are moved out of plain
// columns). Fixed-width values are gathered in ranges through `run`.
Column GatherParts(std::vector<Table>& tables, const std::vector<size_t>& base, const std::vector<uint8_t>& part,
                   size_t c, const std::vector<uint32_t>& order, const RunJobs& run) {
  const Type type = tables.front().columns[c].type;
  bool nulls = false;
  for (const Table& t : tables) nulls = nulls || t.columns[c].HasNulls();
  const size_t n = order.size();
  Column out(type);
  auto each_in = [&](size_t begin, size_t end, auto&& f) {
    for (size_t i = begin; i < end; ++i) f(i, tables[part[i]].columns[c], order[i] - base[part[i]]);
  };
  auto each = [&](auto&& f) { each_in(0, n, f); };
  auto each_ranged = [&](auto&& f) { ForRanges(n, run, [&](size_t begin, size_t end) { each_in(begin, end, f); }); };
  if (!nulls && std::all_of(tables.begin(), tables.end(), [&](const Table& t) { return t.columns[c].coded(); })) {
    // Coded keys (KeyColumn): one dictionary for all, each part's entries mapped into it.
    auto dict = std::make_shared<std::vector<std::string>>();
    boost::unordered_flat_map<std::string_view, Code, std::hash<std::string_view>> index;
    std::vector<std::vector<Code>> to(tables.size());
    bool fits = true;
    for (size_t p = 0; p < tables.size() && fits; ++p) {
      const std::vector<std::string>& entries = *tables[p].columns[c].dict;
      to[p].resize(entries.size());
      for (size_t e = 0; e < entries.size() && fits; ++e) {
        auto [it, inserted] = index.try_emplace(entries[e], static_cast<Code>(dict->size()));
        if (inserted) {
          fits = dict->size() < kMaxDictEntries;
          dict->push_back(entries[e]);
        }
        to[p][e] = it->second;
      }
    }
    if (fits) {
      out.codes.resize(n);
      each_ranged([&](size_t i, Column& col, size_t j) { out.codes[i] = to[part[i]][col.codes[j]]; });
      out.dict = std::move(dict);
      return out;
    }
  }
  if (!nulls && std::all_of(tables.begin(), tables.end(), [&](const Table& t) { return t.columns[c].packed(); })) {
    size_t bytes = 0;
    each([&](size_t, Column& col, size_t j) { bytes += col.offsets[j + 1] - col.offsets[j]; });
    if (bytes <= kMaxPackedChars) {
      out.StartPacked(n, bytes);
      each([&](size_t, Column& col, size_t j) {
        out.chars.append(col.chars.data() + col.offsets[j], col.offsets[j + 1] - col.offsets[j]);
        out.offsets.push_back(static_cast<uint32_t>(out.chars.size()));
      });
      return out;
    }
  }
  if (!PlainParts(tables, c)) {  // (coded keys of too many strings between them; nulls)
    each([&](size_t, Column& col, size_t j) { out.AppendFrom(col, j); });
    return out;
  }
  if (UsesInts(type)) {
    out.ints.resize(n);
    each_ranged([&](size_t i, Column& col, size_t j) { out.ints[i] = col.ints[j]; });
  } else if (UsesReals(type)) {
    out.reals.resize(n);
    each_ranged([&](size_t i, Column& col, size_t j) { out.reals[i] = col.reals[j]; });
  } else {
    out.strings.resize(n);
    each_ranged([&](size_t i, Column& col, size_t j) { out.strings[i] = std::move(col.strings[j]); });
  }
  if (nulls) {
    out.nulls.resize(n);
    each_ranged([&](size_t i, Column& col, size_t j) { out.nulls[i] = col.HasNulls() ? col.nulls[j] : 0; });
  }
  return out;
}
}  // namespace

Table HashAggregation::Finish(const Catalog* threads) {
  Table out = FinishGroups();
  if (s_->parts.empty()) {
    size_t n = out.rows;
    if (s_->tagging && s_->seen.size() == n && n > 1 && !std::is_sorted(s_->seen.begin(), s_->seen.end())) {
      out = GatherTable(out, FirstSeenOrder(std::span<const std::vector<uint64_t>>(&s_->seen, 1)));
    }
    return out;
  }
  RunJobs run = [threads](std::span<const std::function<void()>> jobs) {
    if (threads != nullptr) {
      threads->RunAll(jobs);
    } else {
      for (const auto& job : jobs) job();
    }
  };
  // Disjoint groups: each part finished (several at once: each part's memory given back as it
  // is), its places kept, then gathered from all of them in first-seen order (no table of them
  // all end to end first).
  const size_t parts = s_->parts.size();
  std::vector<Table> tables(parts);
  std::vector<std::vector<uint64_t>> seen(parts);
  std::vector<uint8_t> tagged(parts);
  {
    std::vector<std::function<void()>> jobs;
    for (size_t p = 0; p < parts; ++p) {
      jobs.push_back([this, &tables, &seen, &tagged, p] {
        std::unique_ptr<HashAggregation>& part = s_->parts[p];
        seen[p] = std::move(part->s_->seen);
        tagged[p] = part->s_->tagging;
        tables[p] = part->FinishGroups();
        part.reset();
      });
    }
    run(jobs);
  }
  s_->parts.clear();
  std::vector<size_t> base;
  size_t n = 0;
  bool placed = true;
  for (size_t p = 0; p < parts; ++p) {
    placed = placed && tagged[p] && seen[p].size() == tables[p].rows;
    base.push_back(n);
    n += tables[p].rows;
  }
  if (n == 0) return out;
  std::vector<uint32_t> order;
  if (placed) {
    order = FirstSeenOrder(std::span<const std::vector<uint64_t>>(seen), &run);
  } else {
    order.resize(n);
    for (size_t g = 0; g < n; ++g) order[g] = static_cast<uint32_t>(g);
  }
  seen.clear();
  seen.shrink_to_fit();
  // Each row's table, found once for every column (at most 256 tables: AdoptParts' shares):
  // the last base at or below its group, by a binary search without branches (a search with
  // them mispredicted at every step: 7% of `count() by TimeGenerated`).
  std::vector<uint8_t> part(n);
  ForRanges(n, run, [&](size_t begin, size_t end) {
    const size_t* b = base.data();
    const size_t len = base.size();
    const size_t top = std::bit_floor(len);
    for (size_t i = begin; i < end; ++i) {
      const size_t g = order[i];
      size_t k = 0;
      for (size_t half = top; half > 0; half >>= 1) k += (k + half < len && b[k + half] <= g) ? half : 0;
      part[i] = static_cast<uint8_t>(k);
    }
  });
  Table gathered;
  gathered.rows = n;
  for (size_t c = 0; c < out.columns.size(); ++c) {
    gathered.AddColumn("", GatherParts(tables, base, part, c, order, run));
    for (Table& t : tables) t.columns[c] = Column();  // (given back as it goes)
  }
  return gathered;
}

Status HashAggregation::FinishEach(const std::function<Status(Table)>& each) {
  if (s_->parts.empty()) return each(FinishGroups());
  Table own = FinishGroups();  // (no groups of its own beside adopted parts, as a rule)
  if (own.rows > 0) RETURN_IF_ERROR(each(std::move(own)));
  for (std::unique_ptr<HashAggregation>& part : s_->parts) {
    Table t = part->FinishGroups();
    part.reset();  // (its memory given back before the next part's table is built)
    if (t.rows > 0) RETURN_IF_ERROR(each(std::move(t)));
  }
  s_->parts.clear();
  return OkStatus();
}

Table HashAggregation::FinishGroups() {
  Table out;
  size_t n = s_->num_groups;
  out.rows = n;
  for (size_t i = 0; i < s_->key_values.size(); ++i) {
    Column key = s_->ided[i] ? s_->KeyColumn(i, {}, true) : std::move(s_->key_values[i]);
    if (s_->ided[i]) {
      s_->key_ids[i] = {};
      s_->key_ids[i].shrink_to_fit();
    }
    if (!s_->stringify.empty() && s_->stringify[i] != nullptr) {
      const Column* arg = &key;
      auto text = s_->stringify[i]->eval(std::span<const Column* const>(&arg, 1), FunctionContext{n});
      // (tostring of these types cannot fail; were it to, every key would read as null.)
      if (text.ok()) {
        key = std::move(*text);
      } else {
        key = Column(Type::kString);
        for (size_t g = 0; g < n; ++g) key.AppendNull();
      }
    }
    out.AddColumn("", std::move(key));
  }
  for (auto& a : s_->aggs) {
    for (Column& c : a->Finish(n)) out.AddColumn("", std::move(c));
  }
  return out;
}

}  // namespace cmk::kql
