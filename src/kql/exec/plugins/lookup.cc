// Lookup plugins: ipv4_lookup, ipv6_lookup, geo_line_lookup, geo_polygon_lookup. Each joins the
// input with a lookup table (its first argument, bound and run by binder_evaluate.cc) on a
// match that is no equality, as a `lookup` would: every matching pair is a row, and with
// return_unmatched=true an input row without a match is kept with nulls.
//
// IP ranges: every CIDR block (a.b.c.d/n) is a range of addresses, and two blocks either nest or
// are disjoint. The lookup's blocks are sorted by (start, end descending) with each one's parent
// (the smallest block enclosing it), so the blocks an address is in are the chain of ancestors of
// the last block starting at or before it: a binary search and at most 129 steps up, not a scan
// of the table. An input value may be a block too: it matches the blocks it overlaps (the ones
// starting inside it, and the chain enclosing its start), as ipv4_is_match compares the shorter
// prefix. ipv4_lookup's extra key columns must be equal too (null keys never match, as in join):
// each distinct key has its own sorted blocks.
// Geography: the shapes are indexed by fn::GeoShapeIndex (functions/geo_index.h, S2).
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"
#include "kql/functions/geo_index.h"

namespace cmk::kql::plugins {
namespace {

using U128 = unsigned __int128;
using analytics::ArgError;

// --- Arguments ---------------------------------------------------------------------------------

// The index of the argument for each of `params`: positional arguments by position, named ones
// by name; -1 when absent.
Result<std::vector<int>> ByParam(std::string_view plugin, const PluginArgs& args,
                                 const std::vector<std::string_view>& params) {
  std::vector<int> at(params.size(), -1);
  for (size_t i = 0; i < args.values.size(); ++i) {
    size_t p = i;
    if (!args.names[i].empty()) {
      p = static_cast<size_t>(std::find(params.begin(), params.end(), args.names[i]) - params.begin());
      if (p == params.size()) return ArgError(plugin, "unknown argument '" + args.names[i] + "'");
    }
    if (p >= params.size()) return ArgError(plugin, "too many arguments");
    if (at[p] >= 0) return ArgError(plugin, "argument '" + std::string(params[p]) + "' given twice");
    at[p] = static_cast<int>(i);
  }
  return at;
}

Result<const Table*> LookupTableArg(std::string_view plugin, const PluginArgs& args, int i) {
  if (i < 0 || args.tables[static_cast<size_t>(i)] == nullptr) {
    return ArgError(plugin, "the first argument must be a table (LookupTable)");
  }
  return args.tables[static_cast<size_t>(i)].get();
}

// The input column argument `i` names.
Result<size_t> SourceColumn(std::string_view plugin, const PluginArgs& args, int i, std::string_view what) {
  if (i < 0 || args.columns[static_cast<size_t>(i)] < 0) {
    return ArgError(plugin, std::string(what) + " must name a column of the input");
  }
  return static_cast<size_t>(args.columns[static_cast<size_t>(i)]);
}

// The lookup table's column argument `i` names.
Result<size_t> LookupColumn(std::string_view plugin, const PluginArgs& args, int i, const Table& lookup,
                            std::string_view what) {
  int c = i < 0 ? -1 : lookup.Find(args.idents[static_cast<size_t>(i)]);
  if (c < 0) return ArgError(plugin, std::string(what) + " must name a column of the lookup table");
  return static_cast<size_t>(c);
}

Result<bool> BoolOption(std::string_view plugin, const PluginArgs& args, int i, std::string_view what) {
  if (i < 0) return false;
  const Column& v = args.values[static_cast<size_t>(i)];
  if (!v.constant || v.type != Type::kBool || v.IsNull(0)) {
    return ArgError(plugin, std::string(what) + " must be a constant bool");
  }
  return v.Int(0) != 0;
}

// A numeric argument (per input row or constant); nullptr when absent.
Result<const Column*> NumberArg(std::string_view plugin, const PluginArgs& args, int i, std::string_view what) {
  if (i < 0) return static_cast<const Column*>(nullptr);
  const Column& v = args.values[static_cast<size_t>(i)];
  if (!IsNumeric(v.type)) return ArgError(plugin, std::string(what) + " must be a number");
  return &v;
}

std::optional<double> NumberAt(const Column& c, size_t row) {
  if (c.IsNull(row)) return std::nullopt;
  return UsesReals(c.type) ? c.Real(row) : static_cast<double>(c.Int(row));
}

// --- Output ------------------------------------------------------------------------------------

// The matching pairs: input row, lookup row (-1: an unmatched input row kept).
constexpr size_t kPairBytes = sizeof(uint32_t) + sizeof(int64_t);
struct Pairs {
  std::vector<uint32_t> input;
  std::vector<int64_t> lookup;
  size_t bytes() const { return input.size() * kPairBytes; }
};

// Pairs or output bytes are charged once they have grown by this much since the last charge.
constexpr size_t kChargeStep = 1 << 20;

// Appends input row `r`'s matches (or, when none and `unmatched`, the row with nulls), charging
// the pairs as they grow (one input row may match the whole lookup table).
Status AddMatches(Pairs& out, uint32_t r, const std::vector<uint32_t>& rows, bool unmatched,
                  MemoryReservation& held, const ExecContext& ctx) {
  size_t needed = out.bytes() + (rows.size() + 1) * kPairBytes;
  if (needed > held.bytes()) RETURN_IF_ERROR(held.Resize(needed + kChargeStep));
  for (uint32_t l : rows) {
    out.input.push_back(r);
    out.lookup.push_back(l);
  }
  if (rows.empty() && unmatched) {
    out.input.push_back(r);
    out.lookup.push_back(-1);
  }
  return rows.size() > 4096 ? CheckBudget(ctx) : TickBudget(ctx);
}

// Rows `idx` of `src` (-1: null), charged to `held` as the column grows.
Result<Column> GatherOrNull(const Column& src, const std::vector<int64_t>& idx, MemoryReservation& held,
                            const ExecContext& ctx) {
  Column out(src.type);
  out.Reserve(idx.size());
  bool strings = !UsesInts(src.type) && !UsesReals(src.type);
  size_t bytes = idx.size() * (strings ? sizeof(std::string) : sizeof(int64_t)), charged = 0;
  for (size_t k = 0; k < idx.size(); ++k) {
    int64_t i = idx[k];
    if (i < 0) {
      out.AppendNull();
    } else {
      out.AppendFrom(src, static_cast<size_t>(i));
      if (strings) bytes += src.Str(static_cast<size_t>(i)).size();
    }
    if (bytes > charged + kChargeStep || k + 1 == idx.size()) {
      RETURN_IF_ERROR(held.Grow(bytes - charged));
      RETURN_IF_ERROR(CheckBudget(ctx));
      charged = bytes;
    }
  }
  DropStringNulls(out);
  return out;
}

std::string FreeName(const std::string& name, const Table& taken) {
  if (taken.Find(name) < 0) return name;
  for (int n = 1;; ++n) {
    std::string candidate = name + std::to_string(n);
    if (taken.Find(candidate) < 0) return candidate;
  }
}

// The joined table: the input's columns and the lookup's (but the `dropped` ones), the lookup's
// first when `lookup_first`; a lookup column named like an input column gets a numbered name.
Result<Table> Assemble(const Table& input, const Table& lookup, const std::vector<size_t>& dropped,
                       bool lookup_first, Pairs pairs, const ExecContext& ctx) {
  MemoryReservation held(ctx.budget, "lookup plugin output");
  Table out;
  out.rows = pairs.input.size();
  RETURN_IF_ERROR(held.Grow(pairs.input.size() * sizeof(int64_t)));
  std::vector<int64_t> input_rows(pairs.input.begin(), pairs.input.end());
  pairs.input = {};
  auto add_input = [&]() -> Status {
    for (size_t c = 0; c < input.columns.size(); ++c) {
      ASSIGN_OR_RETURN(Column col, GatherOrNull(input.columns[c], input_rows, held, ctx));
      out.AddColumn(FreeName(input.names[c], out), std::move(col));
    }
    return CheckBudget(ctx);
  };
  auto add_lookup = [&]() -> Status {
    for (size_t c = 0; c < lookup.columns.size(); ++c) {
      if (std::find(dropped.begin(), dropped.end(), c) != dropped.end()) continue;
      ASSIGN_OR_RETURN(Column col, GatherOrNull(lookup.columns[c], pairs.lookup, held, ctx));
      out.AddColumn(FreeName(lookup.names[c], out), std::move(col));
    }
    return CheckBudget(ctx);
  };
  if (lookup_first) {
    RETURN_IF_ERROR(add_lookup());
    RETURN_IF_ERROR(add_input());
  } else {
    RETURN_IF_ERROR(add_input());
    RETURN_IF_ERROR(add_lookup());
  }
  return out;
}

// --- IP ranges ---------------------------------------------------------------------------------

struct IpRange {
  U128 lo = 0, hi = 0;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

U128 FromBytes(const uint8_t* b, size_t n) {
  U128 v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | b[i];
  return v;
}

// "addr[/bits]" as the addresses it covers. IPv4 text in `v6` is the IPv4-mapped ::ffff:a.b.c.d
// (its prefix moved up by 96 bits), as the ipv6_* functions read it; `v6` false takes IPv4 only.
std::optional<IpRange> ParseRange(std::string_view text, bool v6) {
  text = Trim(text);
  size_t slash = text.find('/');
  std::string addr(text.substr(0, slash));
  int bits = -1;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    bits = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      bits = bits * 10 + (c - '0');
    }
  }
  bool dotted = addr.find('.') != std::string::npos;
  int width = v6 ? 128 : 32;
  U128 value = 0;
  if (addr.find(':') == std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, addr.c_str(), &a) != 1 || bits > 32) return std::nullopt;
    value = FromBytes(reinterpret_cast<const uint8_t*>(&a.s_addr), 4);
    if (v6) value |= static_cast<U128>(0xFFFF) << 32;
    if (v6 && bits >= 0) bits += 96;
  } else {
    in6_addr a{};
    if (!v6 || inet_pton(AF_INET6, addr.c_str(), &a) != 1) return std::nullopt;
    value = FromBytes(a.s6_addr, 16);
    if (dotted && (value >> 32) == 0) value |= static_cast<U128>(0xFFFF) << 32;  // ::a.b.c.d
    if (dotted && bits >= 0) bits += 96;
    if (bits > 128) return std::nullopt;
  }
  if (bits < 0) bits = width;
  U128 span = 0;  // the host bits
  if (bits == 0 && width == 128) span = ~static_cast<U128>(0);
  else if (bits < width) span = (static_cast<U128>(1) << (width - bits)) - 1;
  return IpRange{value & ~span, (value & ~span) | span};
}

// The lookup's blocks of one extra-key value, sorted by (lo, hi descending); equal blocks share a
// node.
struct RangeGroup {
  struct Node {
    U128 lo, hi;
    int32_t parent;  // the smallest enclosing node, -1 for none
    uint32_t first, count;  // rows[first, first + count): the lookup rows with this block
  };
  std::vector<Node> nodes;
  std::vector<uint32_t> rows;

  // The lookup rows whose block overlaps `q`, appended (unsorted).
  void Match(const IpRange& q, std::vector<uint32_t>& out) const {
    auto add = [&](const Node& n) { out.insert(out.end(), rows.begin() + n.first, rows.begin() + n.first + n.count); };
    auto it = std::lower_bound(nodes.begin(), nodes.end(), q.lo, [](const Node& n, U128 v) { return n.lo < v; });
    for (auto in = it; in != nodes.end() && in->lo <= q.hi; ++in) add(*in);  // starting inside q
    int32_t k = static_cast<int32_t>(it - nodes.begin()) - 1;  // enclosing q.lo: k's ancestors
    while (k >= 0 && nodes[static_cast<size_t>(k)].hi < q.lo) k = nodes[static_cast<size_t>(k)].parent;
    for (; k >= 0; k = nodes[static_cast<size_t>(k)].parent) add(nodes[static_cast<size_t>(k)]);
  }
};

struct Block {
  std::string key;
  IpRange range;
  uint32_t row;
};

// Encoded extra keys of `row`, or false when one is null.
bool KeyOf(const Table& t, const std::vector<size_t>& cols, size_t row, std::string& out) {
  out.clear();
  for (size_t c : cols) {
    if (t.columns[c].IsNull(row)) return false;
    EncodeKey(t.columns[c], row, out);
  }
  return true;
}

Result<std::unordered_map<std::string, RangeGroup>> BuildRanges(const Table& lookup, size_t key_col,
                                                                const std::vector<size_t>& extra, bool v6,
                                                                MemoryReservation& held, const ExecContext& ctx) {
  std::vector<Block> blocks;
  const Column& keys = lookup.columns[key_col];
  size_t bytes = 0;
  for (size_t r = 0; r < lookup.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    std::optional<IpRange> range = keys.IsNull(r) ? std::nullopt : ParseRange(keys.Str(r), v6);
    Block b;
    if (!range || !KeyOf(lookup, extra, r, b.key)) continue;  // never matches
    b.range = *range;
    b.row = static_cast<uint32_t>(r);
    bytes += sizeof(Block) + sizeof(RangeGroup::Node) + b.key.size();
    blocks.push_back(std::move(b));
    if ((r & 4095) == 0) RETURN_IF_ERROR(held.Resize(bytes));
  }
  RETURN_IF_ERROR(held.Resize(bytes));
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    if (a.key != b.key) return a.key < b.key;
    if (a.range.lo != b.range.lo) return a.range.lo < b.range.lo;
    if (a.range.hi != b.range.hi) return a.range.hi > b.range.hi;
    return a.row < b.row;
  });
  std::unordered_map<std::string, RangeGroup> groups;
  RangeGroup* g = nullptr;
  std::vector<int32_t> open;  // enclosing nodes of the current one, innermost last
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (i == 0 || b.key != blocks[i - 1].key) {
      g = &groups[b.key];
      open.clear();
    }
    RangeGroup::Node* last = g->nodes.empty() ? nullptr : &g->nodes.back();
    if (last != nullptr && last->lo == b.range.lo && last->hi == b.range.hi && i > 0 && b.key == blocks[i - 1].key) {
      ++last->count;
    } else {
      while (!open.empty() && g->nodes[static_cast<size_t>(open.back())].hi < b.range.lo) open.pop_back();
      int32_t parent = open.empty() ? -1 : open.back();
      g->nodes.push_back({b.range.lo, b.range.hi, parent, static_cast<uint32_t>(g->rows.size()), 1});
      open.push_back(static_cast<int32_t>(g->nodes.size() - 1));
    }
    g->rows.push_back(b.row);
  }
  return groups;
}

// ipv4_lookup / ipv6_lookup: `extra` holds the ExtraKey arguments (ipv4 only).
Result<Table> IpLookup(std::string_view plugin, bool v6, const Table& input, const PluginArgs& args,
                       const std::vector<int>& at, const std::vector<int>& extra, bool unmatched,
                       const ExecContext& ctx) {
  ASSIGN_OR_RETURN(const Table* lookup, LookupTableArg(plugin, args, at[0]));
  ASSIGN_OR_RETURN(size_t source_col, SourceColumn(plugin, args, at[1], "the source key"));
  ASSIGN_OR_RETURN(size_t key_col, LookupColumn(plugin, args, at[2], *lookup, "the lookup key"));
  std::vector<size_t> input_extra, lookup_extra;
  for (int i : extra) {
    ASSIGN_OR_RETURN(size_t in_col, SourceColumn(plugin, args, i, "an extra key"));
    ASSIGN_OR_RETURN(size_t lk_col, LookupColumn(plugin, args, i, *lookup, "an extra key"));
    input_extra.push_back(in_col);
    lookup_extra.push_back(lk_col);
  }
  if (input.columns[source_col].type != Type::kString || lookup->columns[key_col].type != Type::kString) {
    return ArgError(plugin, "the IP key columns must be strings");
  }
  MemoryReservation held(ctx.budget, std::string(plugin));
  ASSIGN_OR_RETURN(auto groups, BuildRanges(*lookup, key_col, lookup_extra, v6, held, ctx));
  MemoryReservation pairs_held(ctx.budget, std::string(plugin));
  Pairs pairs;
  std::vector<uint32_t> rows;
  std::string key;
  const Column& ips = input.columns[source_col];
  for (size_t r = 0; r < input.rows; ++r) {
    rows.clear();
    std::optional<IpRange> q = ips.IsNull(r) ? std::nullopt : ParseRange(ips.Str(r), v6);
    if (q && KeyOf(input, input_extra, r, key)) {
      auto g = groups.find(key);
      if (g != groups.end()) g->second.Match(*q, rows);  // blocks in order, rows ascending in each
    }
    RETURN_IF_ERROR(AddMatches(pairs, static_cast<uint32_t>(r), rows, unmatched, pairs_held, ctx));
  }
  return Assemble(input, *lookup, lookup_extra, v6, std::move(pairs), ctx);
}

// --- Geography ---------------------------------------------------------------------------------

// geo_line_lookup / geo_polygon_lookup; `at`: LookupTable, key, longitude, latitude, radius,
// return_unmatched, lookup_area_radius, return_lookup_key.
Result<Table> GeoLookup(std::string_view plugin, fn::GeoShapeIndex::Kind kind, const Table& input,
                        const PluginArgs& args, const std::vector<int>& at, const ExecContext& ctx) {
  ASSIGN_OR_RETURN(const Table* lookup, LookupTableArg(plugin, args, at[0]));
  ASSIGN_OR_RETURN(size_t key_col, LookupColumn(plugin, args, at[1], *lookup, "the lookup key"));
  ASSIGN_OR_RETURN(size_t lng_col, SourceColumn(plugin, args, at[2], "the source longitude"));
  ASSIGN_OR_RETURN(size_t lat_col, SourceColumn(plugin, args, at[3], "the source latitude"));
  ASSIGN_OR_RETURN(const Column* radius, NumberArg(plugin, args, at[4], "radius"));
  ASSIGN_OR_RETURN(bool unmatched, BoolOption(plugin, args, at[5], "return_unmatched"));
  ASSIGN_OR_RETURN(const Column* area, NumberArg(plugin, args, at[6], "lookup_area_radius"));
  (void)area;  // a tuning hint that "doesn't affect query correctness"; the index needs none
  ASSIGN_OR_RETURN(bool return_key, BoolOption(plugin, args, at[7], "return_lookup_key"));
  if (lookup->columns[key_col].type != Type::kDynamic) return ArgError(plugin, "the lookup key must be a dynamic column");
  const Column& lng = input.columns[lng_col];
  const Column& lat = input.columns[lat_col];
  if (!IsNumeric(lng.type) || !IsNumeric(lat.type)) return ArgError(plugin, "the source coordinates must be numbers");
  if (kind == fn::GeoShapeIndex::Kind::kLine && radius == nullptr) return ArgError(plugin, "the radius is required");
  ASSIGN_OR_RETURN(std::unique_ptr<fn::GeoShapeIndex> index,
                   fn::GeoShapeIndex::Build(kind, lookup->columns[key_col], lookup->rows, ctx.budget));
  MemoryReservation held(ctx.budget, std::string(plugin));
  Pairs pairs;
  std::vector<uint32_t> rows;
  for (size_t r = 0; r < input.rows; ++r) {
    rows.clear();
    std::optional<double> x = NumberAt(lng, r), y = NumberAt(lat, r);
    std::optional<double> d = radius == nullptr ? std::optional<double>(-1) : NumberAt(*radius, r);
    // A negative (or null) radius matches nothing; without one, a polygon must contain the point.
    bool valid = x && y && d && (radius == nullptr || *d >= 0);
    if (valid) index->Match(*x, *y, *d, rows);
    RETURN_IF_ERROR(AddMatches(pairs, static_cast<uint32_t>(r), rows, unmatched, held, ctx));
    if ((r & 63) == 0) RETURN_IF_ERROR(CheckBudget(ctx));  // a row may measure many shapes
  }
  std::vector<size_t> dropped;
  if (!return_key) dropped.push_back(key_col);
  return Assemble(input, *lookup, dropped, false, std::move(pairs), ctx);
}

}  // namespace

// ipv4_lookup(LookupTable, SourceIPv4Key, IPv4LookupKey [, ExtraKey ...] [, return_unmatched]):
// the input's columns, then the lookup's but its extra keys.
Result<Table> Ipv4Lookup(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "ipv4_lookup";
  std::vector<int> at(3, -1), extra;
  int unmatched_at = -1;
  for (size_t i = 0; i < args.values.size(); ++i) {
    int k = static_cast<int>(i);
    if (args.names[i] == "return_unmatched") {
      unmatched_at = k;
    } else if (!args.names[i].empty()) {
      return ArgError(kName, "unknown argument '" + args.names[i] + "'");
    } else if (i < 3) {
      at[i] = k;
    } else if (!args.idents[i].empty() && unmatched_at < 0) {
      extra.push_back(k);
    } else if (unmatched_at < 0 && i + 1 == args.values.size()) {
      unmatched_at = k;
    } else {
      return ArgError(kName, "unexpected argument " + std::to_string(i + 1));
    }
  }
  if (at[2] < 0) return ArgError(kName, "takes LookupTable, SourceIPv4Key and IPv4LookupKey");
  ASSIGN_OR_RETURN(bool unmatched, BoolOption(kName, args, unmatched_at, "return_unmatched"));
  return IpLookup(kName, false, input, args, at, extra, unmatched, ctx);
}

// ipv6_lookup(LookupTable, SourceIPv6Key, IPv6LookupKey [, return_unmatched]): the lookup's
// columns, then the input's (the order the reference shows).
Result<Table> Ipv6Lookup(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "ipv6_lookup";
  ASSIGN_OR_RETURN(std::vector<int> at,
                   ByParam(kName, args, {"LookupTable", "SourceIPv6Key", "IPv6LookupKey", "return_unmatched"}));
  if (at[2] < 0) return ArgError(kName, "takes LookupTable, SourceIPv6Key and IPv6LookupKey");
  ASSIGN_OR_RETURN(bool unmatched, BoolOption(kName, args, at[3], "return_unmatched"));
  return IpLookup(kName, true, input, args, at, {}, unmatched, ctx);
}

// geo_line_lookup(LookupTable, LookupLineKey, SourceLongitude, SourceLatitude, Radius
// [, return_unmatched] [, lookup_area_radius] [, return_lookup_key]).
Result<Table> GeoLineLookup(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "geo_line_lookup";
  ASSIGN_OR_RETURN(std::vector<int> at,
                   ByParam(kName, args,
                           {"LookupTable", "LookupLineKey", "SourceLongitude", "SourceLatitude", "radius",
                            "return_unmatched", "lookup_area_radius", "return_lookup_key"}));
  return GeoLookup(kName, fn::GeoShapeIndex::Kind::kLine, input, args, at, ctx);
}

// geo_polygon_lookup(LookupTable, LookupPolygonKey, SourceLongitude, SourceLatitude [, radius]
// [, return_unmatched] [, lookup_area_radius] [, return_lookup_key]).
Result<Table> GeoPolygonLookup(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "geo_polygon_lookup";
  ASSIGN_OR_RETURN(std::vector<int> at,
                   ByParam(kName, args,
                           {"LookupTable", "LookupPolygonKey", "SourceLongitude", "SourceLatitude", "radius",
                            "return_unmatched", "lookup_area_radius", "return_lookup_key"}));
  return GeoLookup(kName, fn::GeoShapeIndex::Kind::kPolygon, input, args, at, ctx);
}

}  // namespace cmk::kql::plugins
