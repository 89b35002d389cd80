#pragma once
// An append-only store of strings whose bytes never move: Store copies a string in and returns a
// view that stays valid until the arena is destroyed. Aggregates that keep many small texts
// (make_set's and make_list's items, count_distinct's values) hold views into it instead of a
// std::string each (an allocation apiece past 15 bytes, and ~32 bytes of header).
// Blocks grow from 1 KiB to 1 MiB, so an arena that keeps a few items costs little; a string
// larger than a quarter of the current block gets a block of its own.
// Thread safety: none (one owner).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace cmk::kql {

class TextArena {
 public:
  std::string_view Store(std::string_view s) {
    if (s.empty()) return {};
    if (s.size() > left_) {
      if (s.size() > next_ / 4) return {Own(s.size(), s), s.size()};
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(next_));
      at_ = blocks_.back().get();
      left_ = next_;
      bytes_ += next_;
      next_ = std::min(next_ * 2, kMaxBlock);
    }
    char* p = at_;
    std::memcpy(p, s.data(), s.size());
    at_ += s.size();
    left_ -= s.size();
    return {p, s.size()};
  }
  // Bytes the arena holds from the heap (blocks, whole).
  size_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kMaxBlock = size_t{1} << 20;
  const char* Own(size_t n, std::string_view s) {
    own_.push_back(std::make_unique_for_overwrite<char[]>(n));
    std::memcpy(own_.back().get(), s.data(), n);
    bytes_ += n;
    return own_.back().get();
  }
  std::vector<std::unique_ptr<char[]>> blocks_, own_;  // shared blocks; strings with their own
  char* at_ = nullptr;
  size_t left_ = 0;
  size_t next_ = 1024;
  size_t bytes_ = 0;
};

}  // namespace cmk::kql
