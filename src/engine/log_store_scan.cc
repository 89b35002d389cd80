// LogStore: extent reads for queries and the decoded-column cache.
//
// A scan reads only what its query needs: the requested columns of the row groups whose
// TimeGenerated range (footer min/max) meets the query's bounds. Decoded row groups are cached
// by (extent, group) with the columns the last query that missed them asked for, under a byte
// budget, least recently used first out but scan-resistant (a scan never evicts what it read
// itself, so a scan larger than the budget keeps its first part cached instead of cycling
// everything out). A plain string block a query's string test reads (Message under `contains`)
// is cached as its opened codec frame, compressed, and searched through the test from it (but
// for a share of its groups kept decoded when the frames leave room: KeepTextAs). An
// extent's layout (groups, their rows and time ranges) is kept apart from its
// blocks, so a query whose blocks are all cached neither reads nor decrypts the object; when
// some are missing the extent is opened once per extent and query (every integrity check as
// before) and the missing blocks decoded: from the hot-cache file only the segments of its
// footer and of those blocks are read and decrypted (engine/cache_file.h), from a blob the
// whole object. A cache file whose segment fails when a block is read is dropped and the
// extent read from its blob (Opener::ReadBlock). Readers are not kept:
// an object costs its bytes in memory, and cached blocks make reopening rare (docs/benchmarks.md).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/encoding.h"
#include "base/mutex.h"
#include "engine/cache_file.h"
#include "engine/extent.h"
#include "engine/log_store_internal.h"
#include "engine/term_filter.h"
#include "kql/core/budget.h"
#include "kql/exec/eval.h"

namespace cmk::engine {

bool IdFromHex(std::string_view hex, storage::ExtentId& id) {
  if (hex.size() != 2 * id.size()) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < id.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    id[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

namespace {

// A row group's entry in the decoded cache.
std::string GroupKey(const std::string& id, size_t group) {
  return id + "\n" + std::to_string(group);
}

// A string-tested text block's entry: its opened codec frame.
std::string PackedKey(const std::string& id, size_t group, const std::string& column) {
  return GroupKey(id, group) + "\n" + column;
}

// What the cache charges for a decoded string beside its bytes: its offset in the packed column
// (kql::ApproxBytes).
constexpr uint64_t kDecodedStringBytes = 4;

// Whether a row group whose TimeGenerated range is `t` can hold rows in [lo, end) and [min, max].
bool GroupMeets(const std::optional<std::pair<int64_t, int64_t>>& t, std::optional<int64_t> lo,
                std::optional<int64_t> end, std::optional<int64_t> min,
                std::optional<int64_t> max) {
  if (!t) return true;  // no time values: nothing to prune by
  auto [first, last] = *t;
  return !((lo && last < *lo) || (end && first >= *end) || (min && last < *min) ||
           (max && first > *max));
}

// The rows of column `c` that `bound` wants (nulls never); every row when the column is of the
// other kind than the bound compares (it cannot tell).
std::vector<uint32_t> RowsMeeting(const kql::Column& c, size_t rows, const kql::ScanRequest::ValueBound& bound) {
  std::vector<uint32_t> idx;
  bool tells = bound.real ? kql::UsesReals(c.type) : kql::UsesInts(c.type);
  for (size_t r = 0; r < rows; ++r) {
    if (tells && c.IsNull(r)) continue;
    bool meets = !tells || (bound.real ? (bound.lower ? c.Real(r) >= bound.d : c.Real(r) <= bound.d)
                                      : (bound.lower ? c.Int(r) >= bound.i : c.Int(r) <= bound.i));
    if (meets) idx.push_back(static_cast<uint32_t>(r));
  }
  return idx;
}

// Whether row group `t` holds a row `bound` wants (or cannot tell: a column of another type).
bool HoldsWanted(const kql::Table& t, const kql::ScanRequest::ValueBound& bound) {
  int i = t.Find(bound.column);
  if (i < 0) return false;  // the extent lacks the column: every row's value is null
  const kql::Column& c = t.columns[static_cast<size_t>(i)];
  if (bound.real ? !kql::UsesReals(c.type) : !kql::UsesInts(c.type)) return true;
  kql::Extreme best = kql::ColumnExtreme(c, t.rows, bound.lower);
  if (!best.any) return false;
  return bound.real ? (bound.lower ? best.d >= bound.d : best.d <= bound.d)
                    : (bound.lower ? best.i >= bound.i : best.i <= bound.i);
}

}  // namespace

TextKept KeepTextAs(const std::string& key, uint64_t scan_rows, uint64_t group_rows, uint64_t per_row,
                    uint64_t frame_per_row, uint64_t cache, uint64_t terms_per_row) {
  if (scan_rows == 0) return TextKept::kNone;
  if (per_row <= cache / 2 / scan_rows) return TextKept::kDecoded;
  if (terms_per_row != 0 && terms_per_row <= cache / 4 * 3 / scan_rows) return TextKept::kTerms;
  if (frame_per_row > cache / 4 * 3 / scan_rows) return TextKept::kNone;
  if (per_row <= frame_per_row) return TextKept::kDecoded;
  if (scan_rows / kMinSharedGroups < group_rows) return TextKept::kFrame;
  // The share of the groups decoded: the room left in 3/4 of the cache by the scan's frames,
  // over what decoding a group costs beyond its frame.
  double room = static_cast<double>(cache / 4 * 3) - static_cast<double>(frame_per_row) * static_cast<double>(scan_rows);
  double share = room / (static_cast<double>(per_row - frame_per_row) * static_cast<double>(scan_rows));
  double at = static_cast<double>(std::hash<std::string>{}(key) >> 11) * 0x1p-53;  // uniform in [0, 1)
  return at < share ? TextKept::kDecoded : TextKept::kFrame;
}

Result<LogStore::OpenedExtent> LogStore::OpenExtent(const ExtentRec& e, Account& a, const SecretBytes& aek,
                                                    bool use_cache) {
  ExtentPlace place{{}, e.account, e.workspace, e.table};
  if (!IdFromHex(e.id, place.id))
    return DataLoss("catalogued extent id '" + e.id + "' is not 32 hex digits");
  if (use_cache) {
    ASSIGN_OR_RETURN(std::optional<OpenedExtent> cached, OpenCached(e, a, aek, place));
    if (cached) {
      extents_opened_.fetch_add(1, std::memory_order_relaxed);
      return std::move(*cached);
    }
  }
  ASSIGN_OR_RETURN(std::vector<uint8_t> object, ReadBlobObject(e, a));
  auto source = std::make_shared<const MemoryObjectSource>(std::move(object));
  ASSIGN_OR_RETURN(ExtentReader reader, ExtentReader::Open(source, aek, place));
  // Cached only once it has proven to be this extent. Hot: ingested or queried in the window
  // (the scans that open extents mark them queried: QueryCatalog::Scan).
  if (Hot(e, HotSince(env_.clock->Now()))) WriteCache(e, a, aek, place.id, source->bytes());
  extents_opened_.fetch_add(1, std::memory_order_relaxed);
  return OpenedExtent{std::make_shared<const ExtentReader>(std::move(reader)), nullptr};
}

Status LogStore::Opener::Open() {
  if (reader) return OkStatus();
  if (!keys) {
    ASSIGN_OR_RETURN(Keys k, store.KeysFor(a, false));
    keys = std::move(k);
  }
  auto r = store.OpenExtent(e, a, keys->aek, !skip_cache);
  if (r.ok()) {
    reader = std::move(r->reader);
    cache = std::move(r->cache);
    return OkStatus();
  }
  if (r.status().code() != StatusCode::kDataLoss) return r.status();
  // Whatever doesn't authenticate as the catalogued extent fails the query: never serve it.
  store.integrity_failures_.fetch_add(1, std::memory_order_relaxed);
  std::string msg = r.status().message();
  if (msg.find("failed its integrity check") == std::string::npos) {
    msg = "extent " + e.id + " failed its integrity check (account '" + e.account + "', workspace '" + e.workspace +
          "', table '" + e.table + "'): " + msg;
  }
  spdlog::error("{}", msg);
  return DataLoss(msg);
}

Result<kql::Column> LogStore::Opener::ReadBlock(size_t group, size_t column) {
  return Retrying<kql::Column>([&] { return reader->ReadBlock(group, column, keys->aek); });
}

Result<PackedBlock> LogStore::Opener::ReadPacked(size_t group, size_t column) {
  return Retrying<PackedBlock>([&] { return reader->ReadPacked(group, column, keys->aek); });
}

Result<kql::Column> LogStore::Opener::ReadRows(size_t group, size_t column, std::span<const uint32_t> wanted) {
  return Retrying<kql::Column>([&] { return reader->ReadRows(group, column, keys->aek, wanted); });
}

Result<PackedBlock> LogStore::Opener::ReadTermFilter(size_t group, size_t column) {
  return Retrying<PackedBlock>([&] { return reader->ReadTermFilter(group, column, keys->aek); });
}

template <class T>
Result<T> LogStore::Opener::Retrying(const std::function<Result<T>()>& read) {
  auto col = read();
  if (col.ok() || cache == nullptr || !cache->failed()) return col;
  // The hot-cache copy's segment of this block did not authenticate (damage the footer's read
  // did not reach): never served. The copy is dropped and the extent read from its blob, once.
  store.RejectCache(e, a, col.status());
  reader.reset();
  cache.reset();
  skip_cache = true;
  RETURN_IF_ERROR(Open());
  return read();
}

int LogStore::Layout::Index(std::string_view name) const {
  int found = -1;
  for (size_t c = 0; c < schema.size(); ++c) {
    if (schema[c].name == name) found = static_cast<int>(c);
  }
  return found;
}

Result<std::shared_ptr<const LogStore::Layout>> LogStore::LayoutOf(Opener& o) {
  {
    MutexLock l(&cache_mu_);
    if (auto it = layouts_.find(o.e.id); it != layouts_.end()) return it->second;
  }
  RETURN_IF_ERROR(o.Open());
  const ExtentReader& r = *o.reader;
  auto l = std::make_shared<Layout>();
  l->account = o.a.id;
  l->schema = r.info().schema;
  for (size_t g = 0; g < r.groups(); ++g) {
    l->rows.push_back(r.group_rows(g));
    l->time.push_back(r.GroupTimeRange(g));
    for (size_t c = 0; c < l->schema.size(); ++c) {
      l->extremes.push_back(r.Extremes(g, c));
      l->term_filters.push_back(r.HasTermFilter(g, c));
      l->stored.push_back(r.BlockStoredSize(g, c));
    }
  }
  MutexLock lock(&cache_mu_);
  return layouts_.emplace(o.e.id, std::move(l)).first->second;
}

namespace {

// Whether a block whose extremes are `x` holds a value `bound` wants; nullopt when its
// extremes can't tell (none recorded, or of the other kind than the bound compares).
std::optional<bool> ExtremesMeet(const std::optional<BlockExtremes>& x, const kql::ScanRequest::ValueBound& bound) {
  if (!x || x->real != bound.real) return std::nullopt;
  if (bound.real) return bound.lower ? x->max_d >= bound.d : x->min_d <= bound.d;
  return bound.lower ? x->max_i >= bound.i : x->min_i <= bound.i;
}

}  // namespace

Result<LogStore::Chunks> LogStore::LoadExtent(const ExtentRec& e, Account& a, const ExtentScan& scan) {
  // A sample's thinning (ScanRequest::thin): the rows a row group (or chunk) keeps.
  const uint64_t extent_seed = scan.thin != nullptr ? std::hash<std::string>()(e.id) : 0;
  auto thinned = [&](size_t part, size_t rows) {
    return kql::ThinnedRows(rows, scan.thin->rate, kql::MixSeed(scan.thin->seed, extent_seed, part));
  };
  auto gathered = [](const std::shared_ptr<const kql::Table>& t, const std::vector<uint32_t>& rows) {
    return std::make_shared<const kql::Table>(kql::GatherTable(*t, rows));
  };
  {
    MutexLock l(&cache_mu_);
    if (auto it = decoded_.find(e.id + "\n*"); it != decoded_.end()) {
      decoded_lru_.splice(decoded_lru_.end(), decoded_lru_, it->second.lru);
      it->second.scan = scan.id;
      if (scan.thin == nullptr) return it->second.chunks;
      Chunks out;
      for (size_t i = 0; i < it->second.chunks.size(); ++i) {
        std::vector<uint32_t> kept = thinned(i, it->second.chunks[i]->rows);
        if (!kept.empty()) out.push_back(gathered(it->second.chunks[i], kept));
      }
      return out;
    }
  }
  Opener opener{*this, e, a};
  ASSIGN_OR_RETURN(std::shared_ptr<const Layout> layout, LayoutOf(opener));
  // The requested columns the extent holds.
  std::vector<size_t> cols;
  if (scan.columns.empty()) {
    for (size_t c = 0; c < layout->schema.size(); ++c) {
      if (layout->Index(layout->schema[c].name) == static_cast<int>(c)) cols.push_back(c);
    }
  } else {
    for (const auto& name : scan.columns) {
      int c = layout->Index(name);
      if (c >= 0 && std::find(cols.begin(), cols.end(), static_cast<size_t>(c)) == cols.end()) {
        cols.push_back(static_cast<size_t>(c));
      }
    }
  }
  std::vector<size_t> groups;
  for (size_t g = 0; g < layout->rows.size(); ++g) {
    if (scan.only && std::find(scan.only->begin(), scan.only->end(), g) == scan.only->end()) continue;
    if (GroupMeets(layout->time[g], scan.lo, scan.end, scan.min, scan.max)) groups.push_back(g);
  }
  if (scan.bound != nullptr && !groups.empty()) {
    RETURN_IF_ERROR(KeepWanted(e, a, *layout, scan, groups));
  }
  if (scan.term_needs != nullptr && !groups.empty()) {
    RETURN_IF_ERROR(KeepHoldingTerms(e, opener, *layout, scan, groups));
  }
  // A sample's thinning: each group's kept rows; a group without one is not read.
  std::vector<std::vector<uint32_t>> kept;
  if (scan.thin != nullptr) {
    std::vector<size_t> some;
    for (size_t g : groups) {
      std::vector<uint32_t> rows = thinned(g, layout->rows[g]);
      if (rows.empty()) continue;
      some.push_back(g);
      kept.push_back(std::move(rows));
    }
    groups = std::move(some);
  }
  // Rows outside the window are dropped by their TimeGenerated (ShapeRows): a row group the
  // window cuts through (or whose range is unknown) is read with it, whichever columns the query
  // reads (`summarize sum(N)` over the last hour counted every row of the group that straddled
  // its start); a group wholly inside needs none.
  // (A rows-only scan counts the groups the window leaves whole, and reads the others, whether
  // or not it asked for TimeGenerated.)
  const int time_col = layout->Index("TimeGenerated");
  std::vector<bool> cut(groups.size(), false);
  if (time_col >= 0 && (scan.lo || scan.end) &&
      (scan.rows_only || std::find(cols.begin(), cols.end(), static_cast<size_t>(time_col)) == cols.end())) {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const auto& range = layout->time[groups[gi]];
      cut[gi] = !range || (scan.lo && range->first < *scan.lo) || (scan.end && range->second >= *scan.end);
    }
  }
  Chunks out;
  // Rows counted, not read (ScanRequest::rows_only): a group the window leaves whole is its
  // footer's count; the cut ones are read (their TimeGenerated drops the rows outside). Reading
  // a column to count rows replaced each group's cached table (the columns other queries had
  // decoded) by one of that column: `sample 10` at 10M rows emptied ~780 MB of a 1 GiB cache.
  if (scan.rows_only) {
    size_t kept_groups = 0;
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      if (cut[gi]) {
        groups[kept_groups] = groups[gi];
        cut[kept_groups++] = true;
        continue;
      }
      auto counted = std::make_shared<kql::Table>();
      counted->name = e.table;
      counted->rows = layout->rows[groups[gi]];
      out.push_back(std::move(counted));
    }
    groups.resize(kept_groups);
    cut.resize(kept_groups);
  }
  auto wanted = [&](size_t gi, size_t c) {
    return std::find(cols.begin(), cols.end(), c) != cols.end() || (cut[gi] && c == static_cast<size_t>(time_col));
  };
  // Each row group's cached table: the columns the last query that missed it asked for. A query
  // whose columns it holds shares it (no copy: shaping passes a superset through); otherwise
  // the missing columns are decoded (outside the lock) and the group's entry is replaced by a
  // table of this query's columns (those it held copied). Entries don't widen with every column
  // ever asked: a query over one narrow column keeps as many groups cached as fit.
  struct Group {
    std::shared_ptr<const kql::Table> table;  // cached, possibly without some of `cols`
    std::vector<std::shared_ptr<std::atomic<bool>>> wipe;
    std::vector<size_t> missing;  // indexes into the extent's schema
  };
  std::vector<Group> found(groups.size());
  auto holds = [&](const kql::Table& t, size_t c) { return t.Find(layout->schema[c].name) >= 0; };
  {
    MutexLock l(&cache_mu_);
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      Group& g = found[gi];
      if (auto it = decoded_.find(GroupKey(e.id, groups[gi])); it != decoded_.end()) {
        decoded_lru_.splice(decoded_lru_.end(), decoded_lru_, it->second.lru);
        it->second.scan = scan.id;
        g.table = it->second.chunks[0];
        g.wipe = it->second.wipe;
      }
      for (size_t c : cols) {
        if (!g.table || !holds(*g.table, c)) g.missing.push_back(c);
      }
      if (cut[gi] && (!g.table || !holds(*g.table, static_cast<size_t>(time_col)))) {
        g.missing.push_back(static_cast<size_t>(time_col));
      }
    }
  }
  std::vector<std::pair<std::string, Decoded>> fresh;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    Group& g = found[gi];
    if (g.missing.empty() && g.table) {
      out.push_back(scan.thin != nullptr ? gathered(g.table, kept[gi]) : g.table);
      continue;
    }
    size_t group = groups[gi];
    // The query's string test on a column this group must read: the block's opened codec frame
    // is taken from the cache, or read. A plain block (text: messages, paths) that the cache
    // keeps as its frame, or not at all (KeepTextAs), is read through the test (only the
    // passing rows' strings built; a group without one is done). Otherwise, and for a dictionary
    // block (its codes are compact already), the block is decoded whole and cached with the
    // group's other columns, which are decoded and cached as ever; the query gets only the
    // passing rows.
    int pre = -1;
    if (scan.prefilter != nullptr) {
      int c = layout->Index(scan.prefilter->column);
      if (c >= 0 && layout->schema[static_cast<size_t>(c)].type == kql::Type::kString &&
          std::find(g.missing.begin(), g.missing.end(), static_cast<size_t>(c)) != g.missing.end()) {
        pre = c;
      }
    }
    std::vector<uint32_t> selected;
    std::optional<kql::Column> passing, pre_whole;
    // The columns decoded for the test's other conjuncts (StringTest::rows_first), which the
    // group's table takes below instead of decoding them again.
    std::vector<std::pair<size_t, kql::Column>> early;
    // The group's new table, begun with the wanted columns its cached entry holds; their bytes.
    auto begin_table = [&](kql::Table& t) {
      t.name = e.table;
      t.rows = layout->rows[group];
      size_t bytes = 0;
      if (!g.table) return bytes;
      for (size_t i = 0; i < g.table->columns.size(); ++i) {
        int c = layout->Index(g.table->names[i]);
        if (c < 0 || !wanted(gi, static_cast<size_t>(c))) continue;
        t.AddColumn(g.table->names[i], g.table->columns[i]);
        bytes += kql::ApproxBytes(g.table->columns[i]);
      }
      return bytes;
    };
    // A group none of whose rows pass still caches those columns (with the ones its entry held):
    // dropped, they were read again on every run.
    auto cache_early = [&] {
      if (early.empty()) return;
      kql::Table t;
      size_t bytes = begin_table(t);
      auto wipe = std::make_shared<std::atomic<bool>>(false);
      for (auto& [c, col] : early) {
        if (col.stored() != t.rows || t.Find(layout->schema[c].name) >= 0) continue;
        bytes += kql::ApproxBytes(col);
        MakeDictWipeable(col, wipe);
        t.AddColumn(layout->schema[c].name, std::move(col));
      }
      if (bytes > CacheCapacity()) return;
      std::vector<std::shared_ptr<std::atomic<bool>>> flags = g.wipe;
      flags.push_back(wipe);
      fresh.emplace_back(GroupKey(e.id, group),
                         Decoded{{ShareWipeable(std::move(t), wipe)}, nullptr, bytes, a.id, std::move(flags), {}});
    };
    if (pre >= 0) {
      const std::string& name = layout->schema[static_cast<size_t>(pre)].name;
      std::string key = PackedKey(e.id, group, name);
      // The rows the predicate's other cheap conjuncts keep (`Level == "Error"` beside `Message
      // has_cs "Job"`), from the group's cached or freshly decoded columns: a group without one
      // reads none of the text; one with few tests those rows' values alone, decompressing only
      // the pieces they lie in (DecodePackedRows), not searching the whole text.
      std::optional<std::vector<uint32_t>> candidates;
      if (scan.prefilter->rows_first) {
        auto head = std::make_shared<kql::Table>();
        head->name = e.table;
        head->rows = layout->rows[group];
        for (const std::string& read : scan.prefilter->first_reads) {
          int c = layout->Index(read);
          if (c < 0 || c == pre) continue;  // (the extent lacks it: null, as the filter sees it)
          if (g.table && holds(*g.table, static_cast<size_t>(c))) {
            head->AddColumn(read, g.table->columns[static_cast<size_t>(g.table->Find(read))]);
            continue;
          }
          if (std::find(g.missing.begin(), g.missing.end(), static_cast<size_t>(c)) == g.missing.end()) continue;
          RETURN_IF_ERROR(opener.Open());
          ASSIGN_OR_RETURN(kql::Column col, opener.ReadBlock(group, static_cast<size_t>(c)));
          blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
          early.emplace_back(static_cast<size_t>(c), kql::Column());
          head->AddColumn(read, std::move(col));
        }
        ASSIGN_OR_RETURN(std::vector<uint32_t> rows, scan.prefilter->rows_first(head));
        for (auto& [c, col] : early) {
          int i = head->Find(layout->schema[c].name);
          if (i >= 0) col = std::move(head->columns[static_cast<size_t>(i)]);
        }
        if (rows.empty()) {
          cache_early();
          continue;
        }
        candidates = std::move(rows);
      }
      // A test its terms decide, over a plain text block (one with a term filter: not a
      // dictionary), may be answered by the block's term index, cached or built here; a test
      // with term candidates (a needle of several terms: `has "10.1.2.3"`) tests only the
      // values of the rows the index shows holding them.
      const size_t at = group * layout->schema.size() + static_cast<size_t>(pre);
      // (A negated test only when nothing reads the values after it: an index finds the few rows
      // holding a term, not the many without.)
      const kql::ScanRequest::StringTest& test = *scan.prefilter;
      const bool use_index = (test.by_terms ? !test.terms_negated || test.any_passing_value
                                            : !test.term_candidates.empty()) &&
                             at < layout->term_filters.size() && layout->term_filters[at] &&
                             layout->rows[group] <= kRowsPerGroup;  // (an index numbers rows in 16 bits)
      std::shared_ptr<const TermIndex> index = use_index ? CachedTerms(key + "\nterms", scan.id) : nullptr;
      // (A cached frame an index is built from is not marked as this scan's: the index takes
      // its place, and it may go.)
      PackedBlock packed = index != nullptr ? nullptr : CachedFrame(key, use_index ? 0 : scan.id);
      bool fresh_frame = index == nullptr && packed == nullptr;
      if (fresh_frame) {
        RETURN_IF_ERROR(opener.Open());
        ASSIGN_OR_RETURN(packed, opener.ReadPacked(group, static_cast<size_t>(pre)));
        blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
      }
      uint64_t group_rows = layout->rows[group];
      const bool few = candidates && candidates->size() <= group_rows / kCandidateShare;
      TextKept kept_as = TextKept::kTerms;
      if (index == nullptr) {
        uint64_t per_row = group_rows == 0 ? 0 : FrameRawSize(*packed).value_or(0) / group_rows + kDecodedStringBytes;
        uint64_t frame_per_row = group_rows == 0 ? 0 : (packed->size() + group_rows - 1) / group_rows;
        // (The index's size is estimated from the frame's by the ratio of those built so far. A
        // block past kMaxIndexedText is not indexed: an index numbers its text's bytes in 32 bits.)
        const bool indexable = use_index && per_row * group_rows <= kMaxIndexedText;
        uint64_t terms_per_row = indexable ? TermIndexEstimate(frame_per_row) : 0;
        kept_as = KeepTextAs(key, scan.rows, group_rows, per_row, frame_per_row, CacheCapacity(),
                             terms_per_row);
        // Indexes never make room for an index: the blocks of a scan whose indexes no longer
        // all fit beside other queries' entries (which took the room of some) are kept as any
        // text block (their frames searched) until those entries age out, rather than rebuilt
        // in turn on every run, each evicting another. Nor is one built for the few rows other
        // conjuncts keep (tested from the frame).
        if (kept_as == TextKept::kTerms &&
            (few || !RoomBesideIndexes(key, TermIndexEstimate(packed->size()), scan.id))) {
          kept_as = KeepTextAs(key, scan.rows, group_rows, per_row, frame_per_row, CacheCapacity());
        }
        // A block searched for the first time (its frame read, not cached) is searched through
        // its frame, which the cache keeps; its index is built when a later test searches it
        // again (the frame then at hand). A build costs ~20 searches of the frame (the term table:
        // 50-60 ms a 65,536-row block of messages): the first query after a start paid them all
        // (6-8 s instead of 3 at 10M rows), for blocks that may never be searched again. Unless
        // the scan's frames would not be kept: then the index is built now or never.
        if (kept_as == TextKept::kTerms && fresh_frame &&
            KeepTextAs(key, scan.rows, group_rows, per_row, frame_per_row, CacheCapacity()) !=
                TextKept::kNone) {
          kept_as = TextKept::kFrame;
        }
        if (kept_as != TextKept::kTerms && use_index && !fresh_frame) CachedFrame(key, scan.id);  // now this scan's
      }
      bool whole = kept_as == TextKept::kDecoded;
      kql::Column col;
      if (kept_as == TextKept::kTerms) {
        ASSIGN_OR_RETURN(col, TestByTerms(opener, group, static_cast<size_t>(pre), group_rows, key, std::move(index),
                                          std::move(packed), *scan.prefilter, candidates, scan.id, selected, fresh));
      } else if (!whole && few) {
        ASSIGN_OR_RETURN(kql::Column values, DecodePackedRows(kql::Type::kString, group_rows, *packed, *candidates));
        values_materialized_.fetch_add(candidates->size(), std::memory_order_relaxed);
        std::vector<uint32_t> kept_values;
        for (size_t i = 0; i < candidates->size(); ++i) {
          if (values.IsNull(i) || scan.prefilter->keep(values.Str(i))) {
            kept_values.push_back(static_cast<uint32_t>(i));
            selected.push_back((*candidates)[i]);
          }
        }
        col = kql::Gather(values, kept_values);
      } else {
        ASSIGN_OR_RETURN(col, DecodePackedStrings(kql::Type::kString, group_rows, *packed, scan.prefilter->keep,
                                                  scan.prefilter->find, selected, whole,
                                                  scan.prefilter->any_passing_value));
      }
      if (whole) {
        pre_whole = std::move(col);
      } else {
        if (fresh_frame && kept_as == TextKept::kFrame) {
          fresh.emplace_back(key, Decoded{{}, packed, packed->size(), a.id, {}, {}});
        }
        if (selected.empty()) {
          cache_early();
          continue;
        }
        passing = std::move(col);
      }
      std::erase(g.missing, static_cast<size_t>(pre));
    }
    if (!g.missing.empty()) RETURN_IF_ERROR(opener.Open());
    // A sample's row group whose entry lacks some of its columns leaves the entry as it is: the
    // kept rows' values are gathered from it beside the columns decoded now. Widening it copied
    // the entry's columns for a row or two of a random group (and its text is never decoded
    // whole for a sample, so every sample of a cached group copied them again).
    const bool thin_beside = scan.thin != nullptr && g.table != nullptr;
    kql::Table t;
    size_t bytes = 0;
    if (thin_beside) {
      t.name = e.table;
      t.rows = layout->rows[group];
    } else {
      bytes = begin_table(t);
    }
    // The rows `at` of the entry's wanted columns that `rows` lacks, into `rows`.
    auto add_held = [&](kql::Table& rows, const std::vector<uint32_t>& at) {
      if (!thin_beside) return;
      for (size_t i = 0; i < g.table->columns.size(); ++i) {
        int c = layout->Index(g.table->names[i]);
        if (c < 0 || !wanted(gi, static_cast<size_t>(c)) || rows.Find(g.table->names[i]) >= 0) continue;
        rows.AddColumn(g.table->names[i], kql::Gather(g.table->columns[i], at));
      }
    };
    // Plaintext: wiped with its entry's flag when the account is revoked.
    auto wipe = std::make_shared<std::atomic<bool>>(false);
    if (pre_whole) {
      bytes += kql::ApproxBytes(*pre_whole);
      MakeDictWipeable(*pre_whole, wipe);
      t.AddColumn(layout->schema[static_cast<size_t>(pre)].name, std::move(*pre_whole));
    }
    // A top's bounded scan wants only the rows meeting its bound (a handful of a group's, for
    // `sort by TimeGenerated desc | take 100`). A string column too large to cache decoded over
    // the scan (as for a string test above: over half the cache) is read as its codec frame,
    // cached as such when the scan's frames take at most 3/4 of the cache, and only the meeting
    // rows' strings are built, after the bound's column (late materialization). Decoded whole,
    // the messages of half the groups of 10M rows were built and cached for the latest 100 rows
    // (650 ms and ~900 MB of cache the first time).
    // A summarize's select (kql::ScanRequest::select) defers the same way the string columns it
    // doesn't read: only the rows it selects (each group's first and best rows) are built.
    std::vector<std::pair<size_t, PackedBlock>> deferred;
    int bound_col = scan.bound != nullptr && !passing ? layout->Index(scan.bound->column) : -1;
    // (Only for a group wholly inside the query's time window: rows outside it are dropped after
    // this, when the table is shaped, and a group's best row must be chosen among the rest.)
    bool in_window = !scan.lo && !scan.end;
    if (!in_window && layout->time[group]) {
      auto [first, last] = *layout->time[group];
      in_window = (!scan.lo || first >= *scan.lo) && (!scan.end || last < *scan.end);
    }
    // (A top over a where may give both: its select then keeps the passing rows that meet the
    // bound, and the bound skips the groups without such a value.)
    const kql::ScanRequest::Select* select = !passing && in_window ? scan.select : nullptr;
    auto defer = [&](size_t c) {
      if (!kql::UsesStrings(layout->schema[c].type)) return false;
      if (scan.thin != nullptr) return true;
      if (select != nullptr) {
        return std::find(select->reads.begin(), select->reads.end(), layout->schema[c].name) == select->reads.end();
      }
      return bound_col >= 0 && static_cast<int>(c) != bound_col;
    };
    // A deferred block's frame, read (and offered to the cache) when a row needs it: a row group
    // whose selected rows are all kept for their place alone (arg_max's, past the first row
    // groups) reads none. At 100M rows, reading and opening every group's 2.3 MB frame of
    // messages for them was most of `arg_max(TimeGenerated, *) by Computer`'s 7.5 s.
    uint64_t group_rows = layout->rows[group];
    auto read_frame = [&](size_t c) -> Result<PackedBlock> {
      blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
      return opener.ReadPacked(group, c);
    };
    // A frame just read is cached as such when the scan's frames take at most 3/4 of the cache.
    auto offer_frame = [&](size_t c, const PackedBlock& packed) {
      uint64_t frame_per_row = group_rows == 0 ? 0 : (packed->size() + group_rows - 1) / group_rows;
      if (scan.rows != 0 && frame_per_row <= CacheCapacity() / 4 * 3 / scan.rows) {
        fresh.emplace_back(PackedKey(e.id, group, layout->schema[c].name), Decoded{{}, packed, packed->size(), a.id, {}, {}});
      }
    };
    // A block's sealed bytes a row (about its frame's).
    auto stored_per_row = [&](size_t c) -> uint64_t {
      size_t at = group * layout->schema.size() + c;
      return group_rows == 0 || at >= layout->stored.size() ? 0 : layout->stored[at] / group_rows;
    };
    // Whether a deferred block's frame, not read yet, would be kept (offer_frame, by its sealed
    // size): one that would not is opened into the thread's buffer for the rows that need it.
    auto frame_kept = [&](size_t c) {
      return scan.thin == nullptr && scan.rows != 0 && stored_per_row(c) <= CacheCapacity() / 4 * 3 / scan.rows;
    };
    auto frame = [&](size_t c, PackedBlock& packed) -> Status {
      if (packed != nullptr) return OkStatus();
      ASSIGN_OR_RETURN(packed, read_frame(c));
      offer_frame(c, packed);
      return OkStatus();
    };
    for (size_t c : g.missing) {
      if (defer(c)) {
        std::string key = PackedKey(e.id, group, layout->schema[c].name);
        PackedBlock packed = CachedFrame(key, scan.id);
        // Without the frame, its sealed size tells a block too large to decode whole (the
        // compressed bytes are fewer than the decoded): its read waits for a row that needs it.
        // A sample's block too unless the scan's frames of it take at most a quarter of the
        // cache: its kept rows are then read from a frame opened into the thread's buffer
        // (Opener::ReadRows) and not kept. The next sample draws other row groups: their frames
        // would take the place of what repeated queries read (and a fresh buffer for each, its
        // zeroing and page faults, was over half of `sample 10`'s CPU at 10M rows).
        const uint64_t share = scan.thin != nullptr ? 4 : 2;
        if (packed == nullptr && scan.rows != 0 && stored_per_row(c) > CacheCapacity() / share / scan.rows) {
          deferred.emplace_back(c, nullptr);
          continue;
        }
        bool fresh_frame = packed == nullptr;
        if (fresh_frame) {
          ASSIGN_OR_RETURN(packed, read_frame(c));
        }
        uint64_t per_row = group_rows == 0 ? 0 : FrameRawSize(*packed).value_or(0) / group_rows + kDecodedStringBytes;
        // (A sample's few rows are built alone, however small the column.)
        bool whole = scan.thin == nullptr && (scan.rows == 0 || per_row <= CacheCapacity() / 2 / scan.rows);
        if (!whole) {
          if (fresh_frame) offer_frame(c, packed);
          deferred.emplace_back(c, std::move(packed));
          continue;
        }
        std::vector<uint32_t> unused;
        ASSIGN_OR_RETURN(kql::Column col, DecodePackedStrings(layout->schema[c].type, group_rows, *packed, nullptr,
                                                              nullptr, unused, whole));
        bytes += kql::ApproxBytes(col);
        MakeDictWipeable(col, wipe);
        t.AddColumn(layout->schema[c].name, std::move(col));
        continue;
      }
      auto decoded_early = std::find_if(early.begin(), early.end(), [c](const auto& x) { return x.first == c; });
      kql::Column col;
      if (decoded_early != early.end()) {
        col = std::move(decoded_early->second);
      } else {
        ASSIGN_OR_RETURN(col, opener.ReadBlock(group, c));
        blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
      }
      bytes += kql::ApproxBytes(col);
      MakeDictWipeable(col, wipe);
      t.AddColumn(layout->schema[c].name, std::move(col));
    }
    if (!deferred.empty()) {
      int k = select != nullptr || scan.thin != nullptr ? 0 : t.Find(scan.bound->column);
      std::vector<uint32_t> meeting;
      std::vector<uint8_t> whole;  // (a select's: the rows kept for their place alone get nulls)
      if (scan.thin != nullptr) meeting = kept[gi];
      else if (select != nullptr) meeting = select->rows(t, &whole);
      else if (k >= 0) meeting = RowsMeeting(t.columns[static_cast<size_t>(k)], t.rows, *scan.bound);
      if (!meeting.empty()) {
        kql::Table rows = kql::GatherTable(t, meeting);
        rows.name = e.table;
        add_held(rows, meeting);
        std::vector<uint32_t> built;
        if (whole.size() == meeting.size()) {
          for (size_t i = 0; i < meeting.size(); ++i) {
            if (whole[i] != 0) built.push_back(meeting[i]);
          }
        }
        const bool all = built.size() == meeting.size() || whole.size() != meeting.size();
        if (all) built = meeting;
        values_materialized_.fetch_add(built.size() * deferred.size(), std::memory_order_relaxed);
        for (auto& [c, packed] : deferred) {
          kql::Column col(layout->schema[c].type);
          if (!built.empty() && packed == nullptr && !frame_kept(c)) {
            blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
            ASSIGN_OR_RETURN(col, opener.ReadRows(group, c, built));
          } else if (!built.empty()) {
            RETURN_IF_ERROR(frame(c, packed));
            ASSIGN_OR_RETURN(col, DecodePackedRows(layout->schema[c].type, t.rows, *packed, built));
          }
          if (!all) {  // the rows kept for their place: nulls
            kql::Column spread(layout->schema[c].type);
            for (size_t i = 0, j = 0; i < meeting.size(); ++i) {
              if (whole[i] != 0) spread.AppendFrom(col, j++);
              else spread.AppendNull();
            }
            col = std::move(spread);
          }
          MakeDictWipeable(col, wipe);
          rows.AddColumn(layout->schema[c].name, std::move(col));
        }
        out.push_back(ShareWipeable(std::move(rows), wipe));
      } else if (k < 0) {  // the bound's column is not requested: every row, as ever
        kql::Table rows = std::move(t);
        t = kql::Table();
        t.name = e.table;
        t.rows = rows.rows;
        for (size_t i = 0; i < rows.columns.size(); ++i) t.AddColumn(rows.names[i], rows.columns[i]);
        for (auto& [c, packed] : deferred) {
          RETURN_IF_ERROR(frame(c, packed));
          bool whole = true;
          std::vector<uint32_t> unused;
          ASSIGN_OR_RETURN(kql::Column col, DecodePackedStrings(layout->schema[c].type, rows.rows, *packed, nullptr,
                                                                nullptr, unused, whole));
          MakeDictWipeable(col, wipe);
          rows.AddColumn(layout->schema[c].name, std::move(col));
        }
        out.push_back(ShareWipeable(std::move(rows), wipe));
      }
    }
    if (passing) {
      kql::Table rows = kql::GatherTable(t, selected);
      rows.name = e.table;
      MakeDictWipeable(*passing, wipe);
      rows.AddColumn(layout->schema[static_cast<size_t>(pre)].name, std::move(*passing));
      out.push_back(ShareWipeable(std::move(rows), wipe));
      if (t.columns.empty()) continue;  // nothing else decoded: no entry to cache
    }
    if (thin_beside) {
      if (!passing && deferred.empty()) {
        kql::Table rows = kql::GatherTable(t, kept[gi]);
        add_held(rows, kept[gi]);
        out.push_back(ShareWipeable(std::move(rows), wipe));
      }
      continue;
    }
    auto table = ShareWipeable(std::move(t), wipe);
    if (!passing && deferred.empty()) out.push_back(scan.thin != nullptr ? gathered(table, kept[gi]) : table);
    if (bytes <= CacheCapacity()) {
      std::vector<std::shared_ptr<std::atomic<bool>>> flags = g.wipe;
      flags.push_back(wipe);
      fresh.emplace_back(GroupKey(e.id, group), Decoded{{table}, nullptr, bytes, a.id, std::move(flags), {}});
    }
  }
  if (!fresh.empty()) {
    MutexLock l(&cache_mu_);
    for (auto& [key, d] : fresh) InsertDecodedLocked(key, std::move(d), scan.id);
  }
  return out;
}

Status LogStore::KeepHoldingTerms(const ExtentRec& e, Opener& opener, const Layout& layout, const ExtentScan& scan,
                                  std::vector<size_t>& groups) {
  const std::vector<kql::ScanRequest::TermNeed>& needs = *scan.term_needs;
  std::vector<int> columns;
  for (const kql::ScanRequest::TermNeed& need : needs) {
    int c = layout.Index(need.column);
    if (c < 0) return OkStatus();  // (the extent's rows have it null; not worth a special case)
    columns.push_back(c);
  }
  std::vector<std::pair<std::string, Decoded>> fresh;
  // A group's filter of a column, from the cache or read (nullptr: the block has none).
  auto filter_of = [&](size_t g, size_t column) -> Result<PackedBlock> {
    if (!layout.term_filters[g * layout.schema.size() + column]) return PackedBlock();
    // Keyed apart from the block's frame (PackedKey): column names hold no newline.
    std::string key = PackedKey(e.id, g, layout.schema[column].name) + "\n#terms";
    PackedBlock filter = CachedFrame(key, scan.id);
    if (filter == nullptr) {
      for (const auto& [k, d] : fresh) {
        if (k == key) return d.packed;
      }
      RETURN_IF_ERROR(opener.Open());
      ASSIGN_OR_RETURN(filter, opener.ReadTermFilter(g, column));
      fresh.emplace_back(key, Decoded{{}, filter, filter->size(), opener.a.id, {}, {}});
    }
    return filter;
  };
  std::vector<size_t> kept;
  for (size_t g : groups) {
    bool may_hold = false;
    for (size_t n = 0; n < needs.size() && !may_hold; ++n) {
      ASSIGN_OR_RETURN(PackedBlock filter, filter_of(g, static_cast<size_t>(columns[n])));
      if (filter == nullptr) {
        may_hold = true;
        break;
      }
      ASSIGN_OR_RETURN(may_hold, TermFilterMayHold(*filter, needs[n].terms));
      if (may_hold && !needs[n].any_terms.empty()) {  // has_any: one needle's terms, whichever
        may_hold = false;
        for (const std::vector<uint64_t>& terms : needs[n].any_terms) {
          ASSIGN_OR_RETURN(may_hold, TermFilterMayHold(*filter, terms));
          if (may_hold) break;
        }
      }
    }
    if (may_hold) {
      kept.push_back(g);
    } else {
      term_filter_skips_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  groups = std::move(kept);
  if (!fresh.empty()) {
    MutexLock l(&cache_mu_);
    for (auto& [key, d] : fresh) InsertDecodedLocked(key, std::move(d), scan.id);
  }
  return OkStatus();
}

Result<kql::Column> LogStore::TestByTerms(Opener& opener, size_t group, size_t column, uint64_t group_rows,
                                         const std::string& key, std::shared_ptr<const TermIndex> index,
                                         PackedBlock packed, const kql::ScanRequest::StringTest& test,
                                         const std::optional<std::vector<uint32_t>>& candidates, uint64_t scan_id,
                                         std::vector<uint32_t>& selected,
                                         std::vector<std::pair<std::string, Decoded>>& fresh) {
  // The block decoded whole to build its index (its plaintext: wiped before it is freed).
  kql::Column values(kql::Type::kString);
  struct WipeValues {
    kql::Column& c;
    ~WipeValues() { WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(c.chars.data()), c.chars.size())); }
  } wipe_values{values};
  const bool built = index == nullptr;
  if (built) {
    bool all = true;
    std::vector<uint32_t> unused;
    ASSIGN_OR_RETURN(values, DecodePackedStrings(kql::Type::kString, group_rows, *packed, nullptr, nullptr, unused, all));
    index = TermIndex::Build(values, group_rows);
    term_indexes_built_.fetch_add(1, std::memory_order_relaxed);
    term_index_bytes_.fetch_add(index->bytes(), std::memory_order_relaxed);
    term_index_frames_.fetch_add(packed->size(), std::memory_order_relaxed);
    Decoded d{{}, nullptr, index->bytes(), opener.a.id, {}, {}};
    d.terms = index;
    fresh.emplace_back(key + "\nterms", std::move(d));
  }
  if (!test.by_terms) {
    // The rows holding the test's term candidates (and the nulls): only their values are tested.
    std::vector<uint32_t> held;
    index->Candidates(test.term_candidates, held);
    std::vector<uint32_t> rows;
    if (candidates) {
      std::set_intersection(held.begin(), held.end(), candidates->begin(), candidates->end(), std::back_inserter(rows));
    } else {
      rows = std::move(held);
    }
    kql::Column col(kql::Type::kString);
    if (rows.empty()) return col;
    kql::Column tested;
    if (built) {
      tested = kql::Gather(values, rows);
    } else {
      // The frame: cached, or read again and offered to the cache where it fits beside the
      // indexes (one that evicted other blocks' indexes would have them rebuilt in turn: at 10M
      // rows a 1 GiB cache holds Message's indexes and ~3/4 of its frames, not both).
      if (packed == nullptr) packed = CachedFrame(key, scan_id);
      if (packed == nullptr) {
        RETURN_IF_ERROR(opener.Open());
        ASSIGN_OR_RETURN(packed, opener.ReadPacked(group, column));
        blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
        if (RoomBesideIndexes(key, packed->size(), scan_id)) {
          fresh.emplace_back(key, Decoded{{}, packed, packed->size(), opener.a.id, {}, {}});
        }
      }
      // Past 1 row in kCandidateShare (a common phrase: "was refused after", 4% of the rows), the
      // whole frame is searched: its pieces would all be decompressed anyway, and one search of
      // the text beats testing the values one by one.
      if (rows.size() > group_rows / kCandidateShare) {
        bool whole = false;
        return DecodePackedStrings(kql::Type::kString, group_rows, *packed, test.keep, test.find, selected, whole,
                                   test.any_passing_value);
      }
      ASSIGN_OR_RETURN(tested, DecodePackedRows(kql::Type::kString, group_rows, *packed, rows));
    }
    values_materialized_.fetch_add(rows.size(), std::memory_order_relaxed);
    std::vector<uint32_t> kept;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (tested.IsNull(i) || test.keep(tested.Str(i))) {
        kept.push_back(static_cast<uint32_t>(i));
        selected.push_back(rows[i]);
      }
    }
    return kql::Gather(tested, kept);
  }
  std::string any;
  std::vector<uint32_t> found;
  index->Select(test.term_keep, test.term_find, found, &any, test.terms_negated, test.terms_first,
                test.terms_last);
  if (test.terms_negated) any.clear();  // "" holds no term: it passes a negated test
  if (candidates) {
    std::set_intersection(found.begin(), found.end(), candidates->begin(), candidates->end(),
                          std::back_inserter(selected));
  } else {
    selected = std::move(found);
  }
  kql::Column col(kql::Type::kString);
  if (selected.empty()) return col;
  if (test.any_passing_value) {
    // One passing value for all (StringTest); a null row is coded as "", the text a null
    // string's tests see (a coded column is tested entry by entry, its nulls aside).
    std::vector<std::string> dict{std::move(any)};
    col.codes.assign(selected.size(), 0);
    if (index->has_nulls()) {
      dict.emplace_back();
      col.nulls.resize(selected.size(), 0);
      for (size_t i = 0; i < selected.size(); ++i) {
        if (!index->IsNull(selected[i])) continue;
        col.nulls[i] = 1;
        col.codes[i] = 1;
      }
    }
    col.dict = std::make_shared<const std::vector<std::string>>(std::move(dict));
    return col;
  }
  values_materialized_.fetch_add(selected.size(), std::memory_order_relaxed);
  if (built) return kql::Gather(values, selected);
  // The passing rows' values, from the block's frame (cached, or opened again for them alone).
  if (packed == nullptr) packed = CachedFrame(key, scan_id);
  if (packed == nullptr) {
    RETURN_IF_ERROR(opener.Open());
    blocks_decoded_.fetch_add(1, std::memory_order_relaxed);
    return opener.ReadRows(group, column, selected);
  }
  return DecodePackedRows(kql::Type::kString, group_rows, *packed, selected);
}

PackedBlock LogStore::CachedFrame(const std::string& key, uint64_t scan_id) {
  MutexLock l(&cache_mu_);
  auto it = decoded_.find(key);
  if (it == decoded_.end()) return nullptr;
  if (scan_id != 0) {
    decoded_lru_.splice(decoded_lru_.end(), decoded_lru_, it->second.lru);
    it->second.scan = scan_id;
  }
  return it->second.packed;
}

bool LogStore::RoomBesideIndexes(const std::string& key, size_t bytes, uint64_t scan) {
  MutexLock l(&cache_mu_);
  if (bytes > CacheCapacity()) return false;
  size_t freed = 0;
  if (auto it = decoded_.find(key); it != decoded_.end()) freed = it->second.bytes;  // the frame it replaces
  for (auto at = decoded_lru_.begin(); decoded_bytes_ - freed + bytes > CacheCapacity(); ++at) {
    if (at == decoded_lru_.end()) return false;
    if (*at == key) continue;
    const Decoded& old = decoded_.at(*at);
    if (old.scan == scan || old.terms != nullptr) return false;
    freed += old.bytes;
  }
  return true;
}

uint64_t LogStore::TermIndexEstimate(uint64_t frame_bytes) const {
  uint64_t frames = term_index_frames_.load(std::memory_order_relaxed);
  if (frames == 0) return std::max<uint64_t>(frame_bytes, 1);
  double ratio = static_cast<double>(term_index_bytes_.load(std::memory_order_relaxed)) / static_cast<double>(frames);
  return std::max<uint64_t>(static_cast<uint64_t>(static_cast<double>(frame_bytes) * ratio), 1);
}

std::shared_ptr<const TermIndex> LogStore::CachedTerms(const std::string& key, uint64_t scan_id) {
  MutexLock l(&cache_mu_);
  auto it = decoded_.find(key);
  if (it == decoded_.end()) return nullptr;
  decoded_lru_.splice(decoded_lru_.end(), decoded_lru_, it->second.lru);
  it->second.scan = scan_id;
  return it->second.terms;
}

Status LogStore::KeepWanted(const ExtentRec& e, Account& a, const Layout& layout, const ExtentScan& scan,
                            std::vector<size_t>& groups) {
  const kql::ScanRequest::ValueBound& bound = *scan.bound;
  int c = layout.Index(bound.column);
  if (c < 0) {  // the extent lacks the column: every row's value is null, none is wanted
    groups.clear();
    return OkStatus();
  }
  std::vector<size_t> kept, unknown;
  for (size_t g : groups) {
    std::optional<bool> meets = ExtremesMeet(layout.extremes[g * layout.schema.size() + static_cast<size_t>(c)], bound);
    if (!meets) unknown.push_back(g);
    else if (*meets) kept.push_back(g);
  }
  if (!unknown.empty()) {
    // The bound's column alone (cached like any column) for the groups the footer can't tell.
    ExtentScan narrow{std::span<const std::string>(&bound.column, 1), scan.lo, scan.end, scan.min, scan.max,
                      nullptr, &unknown, scan.id};
    ASSIGN_OR_RETURN(Chunks keys, LoadExtent(e, a, narrow));
    for (size_t i = 0; i < unknown.size() && i < keys.size(); ++i) {
      if (HoldsWanted(*keys[i], bound)) kept.push_back(unknown[i]);
    }
    std::sort(kept.begin(), kept.end());
  }
  groups = std::move(kept);
  return OkStatus();
}

bool LogStore::NothingWanted(const ExtentRec& e, const ExtentScan& scan) {
  MutexLock l(&cache_mu_);
  if (decoded_.count(e.id + "\n*")) return false;  // LoadExtent serves it whole
  auto it = layouts_.find(e.id);
  if (it == layouts_.end()) return false;
  const Layout& layout = *it->second;
  int c = scan.bound != nullptr ? layout.Index(scan.bound->column) : -1;
  if (scan.bound != nullptr && c < 0) return true;  // as KeepWanted: all null, none wanted
  for (size_t g = 0; g < layout.rows.size(); ++g) {
    if (!GroupMeets(layout.time[g], scan.lo, scan.end, scan.min, scan.max)) continue;
    if (scan.bound == nullptr) return false;
    std::optional<bool> meets =
        ExtremesMeet(layout.extremes[g * layout.schema.size() + static_cast<size_t>(c)], *scan.bound);
    if (!meets || *meets) return false;
  }
  return true;
}

Result<std::optional<kql::ScanRequest::ValueBound>> LogStore::BestBound(
    const std::vector<std::pair<ExtentRec, Account*>>& extents, const ExtentScan& scan,
    const kql::ScanRequest::Best& best) {
  using Bound = std::optional<kql::ScanRequest::ValueBound>;
  std::vector<double> reals;  // each readable group's best value, by its footer
  std::vector<int64_t> ints;
  for (const auto& [e, a] : extents) {
    {
      MutexLock l(&cache_mu_);
      if (decoded_.count(e.id + "\n*")) continue;  // served whole, from its memtable chunks
    }
    Opener o{*this, e, *a};
    ASSIGN_OR_RETURN(std::shared_ptr<const Layout> layout, LayoutOf(o));
    int c = layout->Index(best.column);
    if (c < 0) continue;
    for (size_t g = 0; g < layout->rows.size(); ++g) {
      // Only a group wholly inside the window vouches for its extreme: one the window cuts
      // through may hold it in a row outside (`where TimeGenerated < X | top 5 by N`).
      const auto& range = layout->time[g];
      if (!range || (scan.lo && range->first < *scan.lo) || (scan.end && range->second >= *scan.end)) continue;
      if (!GroupMeets(range, scan.lo, scan.end, scan.min, scan.max)) continue;
      const std::optional<BlockExtremes>& x = layout->extremes[g * layout->schema.size() + static_cast<size_t>(c)];
      if (!x || x->real != best.real) continue;
      if (best.real) reals.push_back(best.greatest ? x->max_d : x->min_d);
      else ints.push_back(best.greatest ? x->max_i : x->min_i);
    }
  }
  if (best.n == 0 || (best.real ? reals.size() : ints.size()) < best.n) return Bound();
  // The N-th best group extreme: N groups each hold a value at least that good.
  auto nth = static_cast<std::ptrdiff_t>(best.n - 1);
  kql::ScanRequest::ValueBound b;
  b.column = best.column;
  b.lower = best.greatest;
  b.real = best.real;
  if (best.real) {
    auto better = [&](double x, double y) { return best.greatest ? x > y : x < y; };
    std::nth_element(reals.begin(), reals.begin() + nth, reals.end(), better);
    b.d = reals[static_cast<size_t>(nth)];
  } else {
    auto better = [&](int64_t x, int64_t y) { return best.greatest ? x > y : x < y; };
    std::nth_element(ints.begin(), ints.begin() + nth, ints.end(), better);
    b.i = ints[static_cast<size_t>(nth)];
  }
  return Bound(std::move(b));
}

void LogStore::InsertDecodedLocked(const std::string& key, Decoded d, uint64_t scan) {
  // A block's index takes the place of its frame (dropped once the index is admitted).
  auto replaced = decoded_.end();
  if (d.terms != nullptr && key.ends_with("\nterms")) {
    replaced = decoded_.find(key.substr(0, key.size() - 6));
    if (replaced != decoded_.end() && !replaced->second.packed) replaced = decoded_.end();
  }
  auto it = decoded_.find(key);
  if (it != decoded_.end() && (d.packed || it->second.packed || d.terms || it->second.terms)) {
    return;  // read (or indexed) meanwhile by another query
  }
  // Decoded meanwhile by another query: kept when it holds every column of this one.
  if (it != decoded_.end()) {
    const kql::Table& held = *it->second.chunks[0];
    const kql::Table& fresh = *d.chunks[0];
    if (std::all_of(fresh.names.begin(), fresh.names.end(), [&](const std::string& n) { return held.Find(n) >= 0; })) {
      return;
    }
  }
  if (scan != 0) {
    // Room goes as far as the least recently used entry this scan read: past it, not admitted
    // (and the entry it would replace stays).
    size_t freed = (it != decoded_.end() ? it->second.bytes : 0) + (replaced != decoded_.end() ? replaced->second.bytes : 0);
    for (auto at = decoded_lru_.begin(); decoded_bytes_ - freed + d.bytes > CacheCapacity(); ++at) {
      if (at == decoded_lru_.end()) break;
      if (*at == key || (replaced != decoded_.end() && *at == replaced->first)) continue;  // counted already
      const Decoded& old = decoded_.at(*at);
      if (old.scan == scan) return;
      freed += old.bytes;
    }
  }
  if (it != decoded_.end()) {
    decoded_bytes_ -= it->second.bytes;
    decoded_lru_.erase(it->second.lru);
    decoded_.erase(it);
  }
  if (replaced != decoded_.end()) {
    decoded_bytes_ -= replaced->second.bytes;
    decoded_lru_.erase(replaced->second.lru);
    decoded_.erase(replaced);
  }
  d.scan = scan;
  decoded_bytes_ += d.bytes;
  auto added = decoded_.emplace(key, std::move(d)).first;
  added->second.lru = decoded_lru_.insert(decoded_lru_.end(), key);
  EvictDecodedLocked(key);
}

void LogStore::EvictDecodedLocked(const std::string& keep, std::vector<Decoded>* dropped) {
  const size_t capacity = CacheCapacity();
  for (auto at = decoded_lru_.begin(); decoded_bytes_ > capacity && at != decoded_lru_.end();) {
    if (*at == keep) {  // the entry just added stays, even alone over the cap
      ++at;
      continue;
    }
    auto it = decoded_.find(*at);
    at = decoded_lru_.erase(at);
    decoded_bytes_ -= it->second.bytes;
    if (dropped != nullptr) dropped->push_back(std::move(it->second));
    decoded_.erase(it);
  }
}

size_t LogStore::CacheCapacity() const {
  const size_t full = options_.decoded_cache_bytes;
  const size_t queries = query_memory_ ? query_memory_->used() : 0;
  const size_t over = queries > full / 4 ? queries - full / 4 : 0;  // past the queries' quarter
  return full - std::min(over, full - full / 4);
}

void LogStore::YieldCache() {
  // The common case (the cache under its bound, or queries holding little) takes no lock.
  if (decoded_bytes_.load(std::memory_order_relaxed) <= CacheCapacity()) return;
  std::vector<Decoded> dropped;  // freed (their plaintext with them) once the lock is let go
  {
    MutexLock l(&cache_mu_);
    size_t before = decoded_bytes_;
    EvictDecodedLocked("", &dropped);
    cache_yielded_bytes_.fetch_add(before - decoded_bytes_, std::memory_order_relaxed);
  }
}

void LogStore::DropDecodedLocked(const std::string& id) {
  layouts_.erase(id);
  std::string from = id + "\n";
  for (auto it = decoded_.lower_bound(from); it != decoded_.end() && it->first.starts_with(from);) {
    decoded_bytes_ -= it->second.bytes;
    decoded_lru_.erase(it->second.lru);
    it = decoded_.erase(it);
  }
}

size_t LogStore::DecodedCacheBytesForTest() const {
  MutexLock l(&cache_mu_);
  return decoded_bytes_;
}

}  // namespace cmk::engine
