#include "kql/functions/has_list.h"

#include <algorithm>
#include <deque>
#include <random>
#include <unordered_map>

#include "kql/functions/function_util.h"
#include "kql/functions/terms.h"

namespace cmk::kql::fn {
namespace {

// The table's slots are chosen by the terms' hashes (terms.h TermHash) mixed with a seed drawn
// once per process: a list and a text made to crowd one run of slots would cost a probe of the
// whole run per term of the text.
uint64_t SlotSeed() {
  static const uint64_t seed = [] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }();
  return seed;
}

}  // namespace

size_t NeedleListBytes(size_t count, size_t text_bytes) { return (count + text_bytes) * 64; }

Status ReserveForNeedles(std::string_view what, size_t count, size_t text_bytes, MemoryReservation& held) {
  size_t bytes = NeedleListBytes(count, text_bytes);
  if (bytes > kMaxListBytes) {
    return Status(StatusCode::kResourceExhausted,
                  "Query execution has exceeded the allowed limits (80DA0001): " + std::string(what) + "'s " +
                      std::to_string(count) + " needles (" + std::to_string(text_bytes) +
                      " bytes) would take more than the 256 MiB allowed to match them",
                  "E_RUNAWAY_QUERY");
  }
  return held.Resize(bytes);
}

size_t HasList::SlotOf(uint64_t hash) const {
  uint64_t x = hash ^ SlotSeed();  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return (x ^ (x >> 31)) & (terms_.size() - 1);
}

uint32_t HasList::FindTerm(std::string_view term) const {
  const uint64_t h = kql::TermHash(term);
  const size_t mask = terms_.size() - 1;
  for (size_t slot = SlotOf(h); terms_[slot].id != kNone; slot = (slot + 1) & mask) {
    if (terms_[slot].hash != h) continue;
    const std::string& text = texts_[terms_[slot].id];
    if (text.size() == term.size() &&
        std::equal(term.begin(), term.end(), text.begin(), [](char a, char b) { return LowerAscii(a) == b; })) {
      return terms_[slot].id;
    }
  }
  return kNone;
}

HasList::HasList(std::span<const std::string> needles) {
  std::unordered_map<std::string, uint32_t> seen;
  std::vector<uint32_t> term_ids;
  for (size_t pos = 0; pos < needles.size(); ++pos) {
    std::string n = LowerAsciiCopy(needles[pos]);
    if (n.empty()) {
      empty_ = true;
      continue;
    }
    auto [it, added] = seen.emplace(n, static_cast<uint32_t>(needles_.size()));
    if (!added) continue;  // (an earlier position has it)
    uint32_t id = it->second;
    Needle info;
    info.position = pos;
    info.length = static_cast<uint32_t>(n.size());
    info.check_left = IsAlnumAscii(n.front());
    info.check_right = IsAlnumAscii(n.back());
    needles_.push_back(info);
    texts_.push_back(n);
    if (std::all_of(n.begin(), n.end(), IsAlnumAscii)) {
      if (n.size() < 64) term_lengths_ |= uint64_t{1} << n.size();
      else long_terms_ = true;
      term_ids.push_back(id);
    } else {
      phrases_.Add(n, id);
    }
  }
  phrases_.Link();
  if (term_ids.empty()) return;
  // At most half full.
  size_t slots = 2;
  while (slots < term_ids.size() * 2) slots *= 2;
  terms_.resize(slots);
  for (uint32_t id : term_ids) {
    const uint64_t h = kql::TermHash(texts_[id]);
    size_t slot = SlotOf(h);
    while (terms_[slot].id != kNone) slot = (slot + 1) & (slots - 1);
    terms_[slot] = {h, id};
  }
}

void NeedleAutomaton::Add(std::string_view needle, uint32_t id) {
  uint32_t at = 0;
  for (char c : needle) {
    if (fold_case_) c = LowerAscii(c);
    uint32_t to = Next(at, c);
    if (to == kNone) {
      to = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
      nodes_[to].depth = nodes_[at].depth + 1;
      auto& next = nodes_[at].next;
      next.insert(std::lower_bound(next.begin(), next.end(), std::pair<char, uint32_t>(c, 0),
                                   [](const auto& a, const auto& b) { return a.first < b.first; }),
                  {c, to});
    }
    at = to;
  }
  if (at != 0 && nodes_[at].needle == kNone) nodes_[at].needle = id;
}

uint32_t NeedleAutomaton::Next(uint32_t node, char c) const {
  const auto& next = nodes_[node].next;
  auto it = std::lower_bound(next.begin(), next.end(), c, [](const auto& e, char k) { return e.first < k; });
  return it != next.end() && it->first == c ? it->second : kNone;
}

uint32_t NeedleAutomaton::Step(uint32_t state, char c) const {
  if (fold_case_) c = LowerAscii(c);
  uint32_t to = Next(state, c);
  while (to == kNone && state != 0) {
    state = nodes_[state].fail;
    to = Next(state, c);
  }
  return to == kNone ? 0 : to;
}

// Breadth first: a node's fail link is the longest proper suffix of its path that is a path
// too, whose own link is known by then.
void NeedleAutomaton::Link() {
  std::deque<uint32_t> queue;
  for (const auto& [c, child] : nodes_[0].next) {
    nodes_[child].fail = 0;
    queue.push_back(child);
  }
  while (!queue.empty()) {
    uint32_t u = queue.front();
    queue.pop_front();
    Node& node = nodes_[u];
    node.report = node.needle != kNone ? u : nodes_[node.fail].report;
    for (const auto& [c, child] : node.next) {
      uint32_t f = node.fail;
      uint32_t to = Next(f, c);
      while (to == kNone && f != 0) {
        f = nodes_[f].fail;
        to = Next(f, c);
      }
      nodes_[child].fail = to != kNone && to != child ? to : 0;
      queue.push_back(child);
    }
  }
}

template <typename Found>
bool HasList::Scan(std::string_view hay, Found&& found) const {
  const size_t n = hay.size();
  if (!terms_.empty()) {
    for (size_t i = 0; i < n;) {
      if (!IsTermByte(hay[i])) {
        ++i;
        continue;
      }
      size_t end = i + 1;
      while (end < n && IsTermByte(hay[end])) ++end;
      const size_t len = end - i;
      if (len < 64 ? (term_lengths_ >> len) & 1 : long_terms_) {
        if (uint32_t id = FindTerm(hay.substr(i, len)); id != kNone && found(id)) return true;
      }
      i = end;
    }
  }
  if (!phrases_.empty()) {
    uint32_t at = NeedleAutomaton::kStart;
    for (size_t i = 0; i < n; ++i) {
      at = phrases_.Step(at, hay[i]);
      bool done = phrases_.Ended(at, [&](uint32_t id, uint32_t length) {
        const Needle& needle = needles_[id];
        const size_t start = i + 1 - length;
        if (needle.check_left && start > 0 && IsAlnumAscii(hay[start - 1])) return false;
        if (needle.check_right && i + 1 < n && IsAlnumAscii(hay[i + 1])) return false;
        return found(id);
      });
      if (done) return true;
    }
  }
  return false;
}

bool HasList::Any(std::string_view hay) const {
  if (empty_) return true;
  return Scan(hay, [](uint32_t) { return true; });
}

bool HasList::All(std::string_view hay) const {
  if (needles_.empty()) return true;
  // The ids found, with repeats, made distinct whenever there are as many as the next check
  // (the needles' count, then doubling): O(m log m) for m occurrences.
  std::vector<uint32_t> ids;
  size_t check = needles_.size();
  auto distinct = [&] {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids.size() == needles_.size();
  };
  if (Scan(hay, [&](uint32_t id) {
        ids.push_back(id);
        if (ids.size() < check) return false;
        if (distinct()) return true;
        check = std::max(check, ids.size() * 2);
        return false;
      })) {
    return true;
  }
  return distinct();
}

size_t HasList::First(std::string_view hay) const {
  size_t first = std::string_view::npos;
  Scan(hay, [&](uint32_t id) {
    first = std::min(first, needles_[id].position);
    return first == 0;
  });
  return first;
}

}  // namespace cmk::kql::fn
