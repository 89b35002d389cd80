// parse-kv: the listed keys' values from text, in one of three modes. With pair_delimiter and
// kv_delimiter, pairs split at the pair delimiter (greedy=true: only at one followed by a key,
// a text and the kv delimiter) and a pair at its first kv delimiter. Without delimiters, any
// non-alphanumeric character separates tokens and a listed key's value is the token after it.
// With regex=, each match's two groups are a key and its value. Keys and values may be quoted
// (quote=, escape=); surrounding white space is ignored; a key's first appearance wins.
// Every scan moves forward through the row, so a row costs time linear in its length.
#include <algorithm>
#include <cctype>
#include <optional>
#include <span>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/function_regex.h"
#include "kql/functions/function_util.h"

namespace cmk::kql {

namespace {

constexpr size_t kNpos = std::string_view::npos;
// Output rows between two charges of the extracted values.
constexpr size_t kKvCheckRows = 4096;

struct KvSpec {
  enum class Mode { kDelimited, kTokens, kRegex };
  Mode mode = Mode::kTokens;
  std::string pair, kv;
  std::vector<std::pair<char, char>> quotes;  // opening, closing
  std::string escapes;
  bool greedy = false;
  std::unique_ptr<RE2> re;
};

// The binder validated the options (binder_parse.cc); this only reads them.
Result<KvSpec> MakeSpec(const std::vector<Option>& options) {
  KvSpec spec;
  for (const Option& o : options) {
    if (o.key == "regex") {
      spec.mode = KvSpec::Mode::kRegex;
      ASSIGN_OR_RETURN(spec.re, fn::CompileRegex("parse-kv", o.value));
    } else if (o.key == "pair_delimiter" || o.key == "kv_delimiter") {
      spec.mode = KvSpec::Mode::kDelimited;
      (o.key == "pair_delimiter" ? spec.pair : spec.kv) = o.value;
    } else if (o.key == "greedy") {
      spec.greedy = o.value == "true";
    } else if (o.key == "quote" && !o.value.empty()) {
      spec.quotes.emplace_back(o.value.front(), o.value.back());
    } else if (o.key == "escape") {
      spec.escapes += o.value;
    }
  }
  return spec;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Bytes of UTF-8 sequences count as letters, so non-ASCII words stay whole.
bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80; }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// text.find(needle, from) in amortized linear time for non-decreasing `from`: an answer stays
// valid while it lies at or after `from` (nothing matched between the earlier start and it).
class Finder {
 public:
  Finder(std::string_view text, std::string_view needle) : text_(text), needle_(needle) {}
  size_t Next(size_t from) {
    if (!valid_ || from < from_ || (at_ != kNpos && at_ < from)) at_ = text_.find(needle_, from);
    valid_ = true;
    from_ = from;
    return at_;
  }

 private:
  std::string_view text_, needle_;
  bool valid_ = false;
  size_t from_ = 0, at_ = kNpos;
};

// The listed keys of one row and the value of each one's first appearance.
class KvRow {
 public:
  explicit KvRow(const std::vector<ParsePart>& keys) {
    for (size_t i = 0; i < keys.size(); ++i) index_.emplace(keys[i].text, i);
    values_.resize(keys.size());
  }
  void Reset() {
    for (auto& v : values_) v.reset();
    left_ = values_.size();
  }
  bool Done() const { return left_ == 0; }
  bool Wants(std::string_view key) const {
    auto it = index_.find(key);
    return it != index_.end() && !values_[it->second];
  }
  void Offer(std::string_view key, std::string value) {
    auto it = index_.find(key);
    if (it == index_.end() || values_[it->second]) return;
    values_[it->second] = std::move(value);
    --left_;
  }
  const std::optional<std::string>& value(size_t i) const { return values_[i]; }

 private:
  std::unordered_map<std::string_view, size_t> index_;
  std::vector<std::optional<std::string>> values_;
  size_t left_ = 0;
};

// Reading one row's text: quoted runs and the delimited and token modes.
class KvScanner {
 public:
  KvScanner(const KvSpec& spec, std::string_view text)
      : spec_(spec), text_(text), pair_(text, spec.pair), pair_probe_(text, spec.pair), kv_(text, spec.kv),
        kv_probe_(text, spec.kv), probe_budget_(4 * text.size() + 256) {}

  void Delimited(KvRow& row);
  void Tokens(KvRow& row);

 private:
  bool At(size_t pos, std::string_view s) const { return !s.empty() && text_.substr(pos, s.size()) == s; }
  // Skips white space that doesn't start a delimiter (a pair delimiter may be ' ').
  size_t SkipBlanks(size_t pos) const {
    while (pos < text_.size() && IsSpace(text_[pos]) && !At(pos, spec_.pair) && !At(pos, spec_.kv)) ++pos;
    return pos;
  }
  int QuoteAt(size_t pos) const {
    if (pos >= text_.size()) return -1;
    for (size_t q = 0; q < spec_.quotes.size(); ++q) {
      if (spec_.quotes[q].first == text_[pos]) return static_cast<int>(q);
    }
    return -1;
  }
  // The quoted text opening at `pos` (escapes resolved) into `out` (may be null); returns the
  // position after the closing quote, or the end of the text when it isn't closed.
  size_t ReadQuoted(size_t pos, int q, std::string* out) const {
    char close = spec_.quotes[static_cast<size_t>(q)].second;
    size_t i = pos + 1;
    while (i < text_.size()) {
      char c = text_[i];
      if (spec_.escapes.find(c) != std::string::npos && i + 1 < text_.size()) {
        if (out) out->push_back(text_[i + 1]);
        i += 2;
      } else if (c == close) {
        return i + 1;
      } else {
        if (out) out->push_back(c);
        ++i;
      }
    }
    return text_.size();
  }
  bool IsKeyAt(size_t pos);
  size_t GreedyEnd(size_t from);
  size_t TokenValue(size_t pos, std::string& value) const;

  const KvSpec& spec_;
  std::string_view text_;
  Finder pair_, pair_probe_, kv_, kv_probe_;
  size_t probe_budget_;  // characters greedy probes may read inside quotes (bounds the row's work)
};

// greedy=true: a key appears at `pos` when a (quoted or plain) key there is followed by the kv
// delimiter before the next pair delimiter.
bool KvScanner::IsKeyAt(size_t pos) {
  pos = SkipBlanks(pos);
  if (int q = QuoteAt(pos); q >= 0) {
    if (probe_budget_ == 0) return false;
    size_t after = ReadQuoted(pos, q, nullptr);
    probe_budget_ -= std::min(probe_budget_, after - pos);
    return At(SkipBlanks(after), spec_.kv);
  }
  size_t k = kv_probe_.Next(pos), p = pair_probe_.Next(pos);
  return k != kNpos && k > pos && (p == kNpos || k < p);
}

// greedy=true: a value runs to the pair delimiter before the next key, or to the end.
size_t KvScanner::GreedyEnd(size_t from) {
  while (true) {
    size_t p = pair_.Next(from);
    if (p == kNpos) return text_.size();
    if (IsKeyAt(p + spec_.pair.size())) return p;
    from = p + 1;
  }
}

void KvScanner::Delimited(KvRow& row) {
  size_t pos = 0, n = text_.size();
  while (pos < n && !row.Done()) {
    pos = SkipBlanks(pos);
    std::string key;
    size_t after;
    if (int q = QuoteAt(pos); q >= 0) {
      after = SkipBlanks(ReadQuoted(pos, q, &key));
    } else {
      size_t k = kv_.Next(pos), p = pair_.Next(pos);
      if (k == kNpos || (p != kNpos && p < k)) {  // a pair without a kv delimiter
        if (p == kNpos) return;
        pos = p + spec_.pair.size();
        continue;
      }
      key = std::string(TrimSpaces(text_.substr(pos, k - pos)));
      after = k;
    }
    if (!At(after, spec_.kv)) {  // a quoted text that isn't a key
      size_t p = pair_.Next(after);
      if (p == kNpos) return;
      pos = p + spec_.pair.size();
      continue;
    }
    size_t v = SkipBlanks(after + spec_.kv.size()), end;
    std::string value;
    if (int q = QuoteAt(v); q >= 0) {
      end = pair_.Next(ReadQuoted(v, q, &value));
    } else {
      end = spec_.greedy ? GreedyEnd(v) : pair_.Next(v);
      value = std::string(TrimSpaces(text_.substr(v, end == kNpos ? kNpos : end - v)));
    }
    row.Offer(key, std::move(value));
    if (end == kNpos || end >= n) return;
    pos = end + spec_.pair.size();
  }
}

// The token after a key: skips separators, then reads a quoted run or a word.
size_t KvScanner::TokenValue(size_t pos, std::string& value) const {
  while (pos < text_.size() && !IsWordChar(text_[pos]) && QuoteAt(pos) < 0) ++pos;
  if (int q = QuoteAt(pos); q >= 0) return ReadQuoted(pos, q, &value);
  size_t start = pos;
  while (pos < text_.size() && IsWordChar(text_[pos])) ++pos;
  value.assign(text_.substr(start, pos - start));
  return pos;
}

void KvScanner::Tokens(KvRow& row) {
  size_t pos = 0, n = text_.size();
  while (pos < n && !row.Done()) {
    std::string key;
    size_t after;
    if (int q = QuoteAt(pos); q >= 0) {
      after = ReadQuoted(pos, q, &key);
    } else if (IsWordChar(text_[pos])) {
      after = pos;
      while (after < n && IsWordChar(text_[after])) ++after;
      key.assign(text_.substr(pos, after - pos));
    } else {
      ++pos;
      continue;
    }
    if (!row.Wants(key)) {
      pos = after;
      continue;
    }
    std::string value;
    pos = TokenValue(after, value);
    row.Offer(key, std::move(value));
  }
}

void ParseRow(const KvSpec& spec, std::string_view text, KvRow& row) {
  row.Reset();
  if (spec.mode == KvSpec::Mode::kRegex) {
    fn::ForEachMatch(*spec.re, text, [&](std::span<const std::string_view> groups) {
      if (row.Done() || groups.size() < 3 || groups[1].data() == nullptr) return;
      row.Offer(TrimSpaces(groups[1]), std::string(TrimSpaces(groups[2])));
    });
    return;
  }
  KvScanner scanner(spec, text);
  if (spec.mode == KvSpec::Mode::kDelimited) {
    scanner.Delimited(row);
  } else {
    scanner.Tokens(row);
  }
}

}  // namespace

Status RunParseKv(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(KvSpec spec, MakeSpec(node.kv_options));
  std::vector<int> targets;  // output column per key
  for (const ParsePart& key : node.pattern) {
    for (size_t c = 0; c < node.schema.size(); ++c) {
      if (node.schema[c].name == key.text) targets.push_back(static_cast<int>(c));
    }
  }
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue src, Eval(node.predicate, chunk, fctx));
    MemoryReservation held(ctx.budget, "parse-kv");
    size_t held_bytes = 0;
    std::vector<Column> values(targets.size(), Column(Type::kString));
    KvRow row(node.pattern);
    for (size_t r = 0; r < chunk.rows; ++r) {
      ParseRow(spec, ValueToText(src.get(), r), row);
      for (size_t i = 0; i < values.size(); ++i) {
        const std::optional<std::string>& v = row.value(i);
        // A missing key is null, or an empty string in a string column.
        if (!v && node.schema[static_cast<size_t>(targets[i])].type != Type::kString) {
          values[i].AppendNull();
          continue;
        }
        held_bytes += (v ? v->size() : 0) + sizeof(std::string);
        values[i].AppendString(v ? *v : std::string());
      }
      if ((r + 1) % kKvCheckRows == 0) {
        RETURN_IF_ERROR(held.Resize(held_bytes));
        RETURN_IF_ERROR(CheckBudget(ctx));
      }
    }
    RETURN_IF_ERROR(held.Resize(held_bytes));
    Chunk out;
    out.rows = chunk.rows;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      auto it = std::find(targets.begin(), targets.end(), static_cast<int>(c));
      if (it == targets.end()) {
        out.AddShared(chunk.shared(c));
        continue;
      }
      Column& col = values[static_cast<size_t>(it - targets.begin())];
      Type t = node.schema[c].type;
      out.Add(t == Type::kString ? std::move(col) : fn::Convert(col, t, fctx));
    }
    return sink(std::move(out));
  });
}

}  // namespace cmk::kql
