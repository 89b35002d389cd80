#include "engine/term_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/testing.h"
#include "kql/functions/terms.h"

namespace cmk::engine {
namespace {

using testing::IsOk;

std::vector<uint8_t> FilterOf(const std::vector<std::string>& values) {
  TermFilterBuilder b;
  for (const auto& v : values) b.Add(v);
  std::vector<uint8_t> out;
  b.Finish(out);
  return out;
}

bool MayHold(const std::vector<uint8_t>& filter, std::string_view term) {
  uint64_t h = kql::TermHash(term);
  auto r = TermFilterMayHold(filter, std::span<const uint64_t>(&h, 1));
  EXPECT_THAT(r, IsOk());
  return r.ok() && *r;
}

// Random log-like values: words in either case, hex ids, numbers, separators, UTF-8 and terms
// longer than the hash's stack buffer.
std::vector<std::string> RandomValues(std::mt19937_64& rng, size_t n) {
  const char* seps[] = {" ", "/", ":", "-", ".", "\xc3\xa9", "=", ", ", "\t"};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string v;
    int parts = static_cast<int>(rng() % 12);
    for (int p = 0; p < parts; ++p) {
      size_t len = rng() % 10 == 0 ? 60 + rng() % 90 : 1 + rng() % 12;
      for (size_t k = 0; k < len; ++k) {
        uint64_t x = rng() % 62;
        v += static_cast<char>(x < 10 ? '0' + x : x < 36 ? 'a' + (x - 10) : 'A' + (x - 36));
      }
      v += seps[rng() % std::size(seps)];
    }
    out.push_back(std::move(v));
  }
  return out;
}

// Every term of every value added is reported present, in any case: a filter never hides a row
// a has-like test keeps.
TEST(TermFilterTest, EveryTermAddedIsFoundInAnyCase) {
  std::mt19937_64 rng(7);
  for (size_t n : {0, 1, 50, 5000}) {
    std::vector<std::string> values = RandomValues(rng, n);
    // Terms at the ends of values and of 64-byte words (the builder reads 64 bytes at a time).
    for (size_t len : {1, 7, 8, 9, 16, 17, 63, 64, 65, 127, 128, 129}) {
      values.push_back(std::string(len, static_cast<char>('a' + len % 26)));
      values.push_back("x " + std::string(len, static_cast<char>('A' + len % 23)));
      values.push_back(std::string(len, '7') + "/" + std::string(64, 'q') + "z");
    }
    std::vector<uint8_t> filter = FilterOf(values);
    size_t checked = 0;
    for (const auto& v : values) {
      kql::ForEachTerm(v, [&](std::string_view t) {
        std::string upper(t), lower(t);
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_TRUE(MayHold(filter, t) && MayHold(filter, upper) && MayHold(filter, lower)) << t;
        ++checked;
      });
    }
    if (n == 5000) {
      EXPECT_GT(checked, 10000u);
    }
  }
}

// The builder's hash of a term read on past its end (TermHashReadingOn) is the query's
// TermHash, for every length and case; and a column's values read in place (past each value's
// end) give the same filter as the values one by one.
TEST(TermFilterTest, TermsReadInPlaceHashAsTheQuerysTerms) {
  std::mt19937_64 rng(11);
  std::string buf(4096, ' ');
  for (char& c : buf) {
    uint64_t x = rng() % 62;
    c = static_cast<char>(x < 10 ? '0' + x : x < 36 ? 'a' + (x - 10) : 'A' + (x - 36));
  }
  std::set<uint64_t> seen;
  for (size_t n = 1; n <= 40; ++n) {
    for (size_t at = 0; at + n + 8 <= buf.size(); at += 97) {
      std::string_view t(buf.data() + at, n);
      ASSERT_EQ(kql::TermHashReadingOn(t), kql::TermHash(t)) << t;
      std::string lower(t);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ASSERT_EQ(kql::TermHash(t), kql::TermHash(lower)) << t;
      seen.insert(kql::TermHash(lower));
    }
  }
  EXPECT_GT(seen.size(), 1500u);  // distinct terms hash apart
  EXPECT_NE(kql::TermHash("ab"), kql::TermHash("ab0"));
  EXPECT_NE(kql::TermHash("abcdefgh"), kql::TermHash("abcdefgh0"));

  std::vector<std::string> values = RandomValues(rng, 3000);
  BatchColumn col(kql::Type::kString);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i % 17 == 5) col.AppendNull();
    else col.AppendString(values[i]);
  }
  TermFilterBuilder one_by_one;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i % 17 != 5) one_by_one.Add(values[i]);
  }
  std::vector<uint8_t> expected;
  ASSERT_TRUE(one_by_one.Finish(expected));
  TermFilterBuilder in_place;
  BatchPiece pieces[] = {{&col, 0, 1000}, {nullptr, 0, 10}, {&col, 1000, values.size()}};
  in_place.Add(pieces);
  std::vector<uint8_t> got;
  ASSERT_TRUE(in_place.Finish(got));
  EXPECT_EQ(got, expected);
}

// Terms never added are reported present about 1% of the time, and the filter takes 10 bits a
// distinct term here (every repeat dropped).
TEST(TermFilterTest, AbsentTermsAreRarelyReportedPresent) {
  std::vector<std::string> values;
  for (int i = 0; i < 100000; ++i) values.push_back("present" + std::to_string(i) + " GET api");
  std::vector<uint8_t> filter = FilterOf(values);
  size_t distinct = 100000 + 2;
  EXPECT_GE((filter.size() - 5) * 8, distinct * 10);
  EXPECT_LE((filter.size() - 5) * 8, distinct * 11);
  int positives = 0;
  for (int i = 0; i < 100000; ++i) positives += MayHold(filter, "absent" + std::to_string(i)) ? 1 : 0;
  EXPECT_LT(positives, 2000);  // ~1.2% expected
  EXPECT_TRUE(MayHold(filter, "present99999"));
  EXPECT_TRUE(MayHold(filter, "get"));
}

// A builder starts afresh after Finish: the next filter holds only its own values' terms, and
// repeats (the same term in every value) are not dropped wrongly across filters.
TEST(TermFilterTest, ABuilderReusedHoldsOnlyItsNextValues) {
  TermFilterBuilder b;
  b.Add("alpha beta");
  b.Add("alpha beta");
  std::vector<uint8_t> first;
  b.Finish(first);
  b.Add("alpha gamma");
  std::vector<uint8_t> second;
  b.Finish(second);
  EXPECT_TRUE(MayHold(first, "alpha"));
  EXPECT_TRUE(MayHold(first, "beta"));
  EXPECT_FALSE(MayHold(first, "gamma"));
  EXPECT_TRUE(MayHold(second, "alpha"));  // the recent-hash memory was forgotten at Finish
  EXPECT_TRUE(MayHold(second, "gamma"));
  EXPECT_FALSE(MayHold(second, "beta"));
  // An empty filter holds nothing; no terms are asked of every filter.
  std::vector<uint8_t> empty;
  b.Finish(empty);
  EXPECT_FALSE(MayHold(empty, "alpha"));
  auto none = TermFilterMayHold(empty, {});
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(*none);
}

// Values with more distinct terms than a filter takes (4M kept hashes) get none: the block
// is read as ever. The builder starts afresh after.
TEST(TermFilterTest, TooManyTermsGiveNoFilter) {
  TermFilterBuilder b;
  std::string v;
  for (int i = 0; i < (1 << 22) + 10; ++i) {
    v += std::to_string(i);
    v += ' ';
    if (v.size() > 1 << 16) {
      b.Add(v);
      v.clear();
    }
  }
  b.Add(v);
  EXPECT_GT(b.BufferForTest(), size_t{1} << 22);
  std::vector<uint8_t> out;
  EXPECT_FALSE(b.Finish(out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(b.BufferForTest(), 0u);  // its 32 MB given back, not kept for the next block
  b.Add("after");
  EXPECT_TRUE(b.Finish(out));
  EXPECT_TRUE(MayHold(out, "after"));
}

TEST(TermFilterTest, BytesThatAreNotAFilterAreRefused) {
  std::vector<uint8_t> good = FilterOf({"a b c"});
  uint64_t h = kql::TermHash("a");
  std::span<const uint64_t> one(&h, 1);
  std::vector<std::vector<uint8_t>> bad = {{}, {1}, {2, 1, 0, 0, 0}, {1, 0, 0, 0, 0}, {1, 1, 0, 0}};
  bad.push_back(good);
  bad.back()[0] = 9;
  bad.push_back(good);
  bad.back().pop_back();
  bad.push_back(good);
  bad.back().push_back(0);
  bad.push_back({1, 0, 0, 0, 1});  // 2^24 blocks: over the bound (and the bytes)
  bad.push_back({1, 0xff, 0xff, 0xff, 0xff});
  for (const auto& b : bad) {
    auto r = TermFilterMayHold(b, one);
    EXPECT_FALSE(r.ok()) << b.size();
  }
}

}  // namespace
}  // namespace cmk::engine
