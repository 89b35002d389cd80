#include "kql/functions/sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace cmk::kql::fn {
namespace {

// The fraction of `sorted` at or below `v`.
double RankOf(const std::vector<double>& sorted, double v) {
  return static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin()) /
         static_cast<double>(sorted.size());
}

// Reserving room changes no answer: a sketch stays exact (sparse) up to the same count and
// densifies at the same point whether its room was reserved, by Reserve or by a merge, or not.
TEST(Hll, ReservedRoomChangesNoAnswer) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> hashes(5000);
  for (uint64_t& h : hashes) h = rng();
  for (size_t n : {1u, 500u, 1000u, 1001u, 5000u}) {
    Hll plain = Hll::ForAccuracy(1), reserved = Hll::ForAccuracy(1), merged = Hll::ForAccuracy(1);
    reserved.Reserve(n);
    reserved.Reserve(3);  // (never shrinks)
    Hll part = Hll::ForAccuracy(1);
    for (size_t i = 0; i < n; ++i) {
      plain.AddHash(hashes[i]);
      reserved.AddHash(hashes[i]);
      part.AddHash(hashes[i]);
      if (i % 2 == 0) part.AddHash(hashes[i]);  // repeats count once
    }
    merged.Merge(part);
    merged.Merge(part);
    EXPECT_EQ(reserved.Estimate(), plain.Estimate()) << n;
    EXPECT_EQ(merged.Estimate(), plain.Estimate()) << n;
    EXPECT_EQ(reserved.ToJson(), plain.ToJson()) << n;
    if (n <= 1000) {
      EXPECT_EQ(plain.Estimate(), n);  // exact while sparse (level 1: 1,000 values)
    }
  }
}

// The documented bound: the rank of the answer within 1% of the asked percentile, and the ends
// exact (the minimum and the maximum), over values added one by one, in bulk and by merging.
TEST(TDigest, RankErrorStaysUnderOnePercentAndTheEndsAreExact) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(1.0, 1.5);
  std::vector<double> all;
  TDigest single, bulk, merged;
  std::vector<TDigest> parts(37);
  for (size_t i = 0; i < 300'000; ++i) {
    double v = std::round(dist(rng) * 1000) / 1000;
    all.push_back(v);
    single.Add(v, 1.0);
    parts[i % parts.size()].Add(v, 1.0);
  }
  bulk.AddValues(all);
  for (const TDigest& p : parts) merged.Merge(p);
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (TDigest* d : {&single, &bulk, &merged}) {
    EXPECT_EQ(d->total(), 300'000);
    EXPECT_EQ(d->Percentile(0), sorted.front());
    EXPECT_EQ(d->Percentile(100), sorted.back());
    for (double p : {1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9}) {
      std::optional<double> v = d->Percentile(p);
      ASSERT_TRUE(v.has_value());
      EXPECT_NEAR(RankOf(sorted, *v), p / 100, 0.01) << "p" << p;
    }
    EXPECT_LE(d->Bytes(), 512u << 10);  // bounded, whatever the values
  }
}

// Values handed over sorted (a partial aggregation's, sorted where it was read) merge at once,
// after what waits in the buffers, within the same bound; non-finite ones are skipped wherever
// the sort put them.
TEST(TDigest, SortedValuesMergeAtOnceWithinTheBound) {
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> dist(1.0, 1.5);
  std::vector<double> all;
  TDigest d;
  std::vector<double> first;
  for (size_t i = 0; i < 5'000; ++i) first.push_back(std::round(dist(rng) * 1000) / 1000);
  d.AddValues(first);  // buffered, not yet merged
  all = first;
  for (int part = 0; part < 6; ++part) {
    std::vector<double> sorted;
    for (size_t i = 0; i < 50'000; ++i) sorted.push_back(std::round(dist(rng) * 1000) / 1000);
    all.insert(all.end(), sorted.begin(), sorted.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.insert(sorted.begin(), -std::numeric_limits<double>::infinity());
    sorted.push_back(std::numeric_limits<double>::infinity());
    sorted.push_back(std::numeric_limits<double>::quiet_NaN());
    d.AddSortedValues(sorted);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(d.total(), static_cast<double>(all.size()));
  EXPECT_EQ(d.Percentile(0), all.front());
  EXPECT_EQ(d.Percentile(100), all.back());
  for (double p : {1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9}) {
    std::optional<double> v = d.Percentile(p);
    ASSERT_TRUE(v.has_value());
    EXPECT_NEAR(RankOf(all, *v), p / 100, 0.01) << "p" << p;
  }
  EXPECT_LE(d.Bytes(), 512u << 10);
}

// A digest merged before it ever compressed hands over every value it holds, whatever the
// weights; equal values share a centroid, so a few distinct values stay exact.
TEST(TDigest, MergeCarriesUncompressedValuesAndWeights) {
  TDigest a, b;
  a.Add(5, 1.0);
  a.Add(1, 3.0);
  b.Add(2, 1.0);
  b.Add(2, 1.0);
  b.Add(9, 0.5);
  b.Add(std::nan(""), 1.0);  // not a value: left out
  a.Merge(b);
  EXPECT_EQ(a.total(), 6.5);
  EXPECT_EQ(a.Percentile(40), 1);   // rank 3 of 6.5: the 1s weigh 3
  EXPECT_EQ(a.Percentile(70), 2);   // rank 5
  EXPECT_EQ(a.Percentile(90), 5);   // rank 6
  EXPECT_EQ(a.Percentile(100), 9);
  EXPECT_EQ(a.Rank(2), 5);
  TDigest many;
  std::vector<double> values;
  for (int i = 0; i < 100'000; ++i) values.push_back(i % 3);
  many.AddValues(values);
  EXPECT_EQ(many.Rank(0), 33'334);
  EXPECT_EQ(many.Rank(1), 66'667);
  EXPECT_EQ(many.Percentile(50), 1);
}

}  // namespace
}  // namespace cmk::kql::fn
