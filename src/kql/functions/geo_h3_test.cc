// The H3 grid against its own invariants and against answers of the reference library (uber/h3
// v4.1.0, run separately; the values are quoted here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {

constexpr double kPi = 3.14159265358979323846;

Index Cell(std::string_view s) { return FromString(s).value_or(0); }

LatLng Degrees(double lat, double lng) { return {DegreesToRadians(lat), DegreesToRadians(lng)}; }

std::vector<std::pair<Index, int>> Disk(Index h, int k) {
  std::vector<std::pair<Index, int>> out;
  EXPECT_TRUE(GridDiskDistances(h, k, [] { return true; }, out));
  return out;
}

std::vector<Index> Neighbors(Index h) {
  std::vector<Index> out;
  for (auto [cell, d] : Disk(h, 1)) {
    if (d == 1) out.push_back(cell);
  }
  return out;
}

std::vector<Index> Pentagons(int res) {
  std::vector<Index> out;
  for (int bc = 0; bc < kBaseCells; ++bc) {
    if (!IsPentagonBase(bc)) continue;
    Index h = BaseCellIndex(bc);
    for (int r = 1; r <= res; ++r) h = WithResolution(WithDigit(h, r, 0), r);
    out.push_back(h);
  }
  return out;
}

TEST(H3Grid, KnownCellsOfTheReferenceLibrary) {
  // KQL reference: geo_point_to_h3cell(-74.04450446039874, 40.689250859314974, 6).
  EXPECT_EQ(ToString(LatLngToCell(Degrees(40.689250859314974, -74.04450446039874), 6)),
            "862a1072fffffff");
  LatLng sydney = Degrees(-33.86, 151.21);
  EXPECT_EQ(ToString(LatLngToCell(sydney, 0)), "80bffffffffffff");
  EXPECT_EQ(ToString(LatLngToCell(sydney, 5)), "85be0e37fffffff");
  EXPECT_EQ(ToString(LatLngToCell(sydney, 10)), "8abe0e35c057fff");
  EXPECT_EQ(ToString(LatLngToCell(sydney, 15)), "8fbe0e35c052008");
  EXPECT_EQ(ToString(LatLngToCell(Degrees(89.999, -179.5), 15)), "8f0326233149ce3");
}

TEST(H3Grid, CentreAndBoundaryMatchTheReferenceLibrary) {
  LatLng c = CellToLatLng(Cell("862a1072fffffff"));
  EXPECT_NEAR(RadiansToDegrees(c.lng), -74.016008479792433, 1e-12);
  EXPECT_NEAR(RadiansToDegrees(c.lat), 40.704167908350385, 1e-12);
  std::vector<LatLng> b = CellToBoundary(Cell("862a1072fffffff"));
  ASSERT_EQ(b.size(), 6u);
  EXPECT_NEAR(RadiansToDegrees(b[0].lng), -74.002274464615894, 1e-12);
  EXPECT_NEAR(RadiansToDegrees(b[0].lat), 40.735376026215008, 1e-12);
  EXPECT_NEAR(RadiansToDegrees(b[3].lng), -74.029724408156682, 1e-12);
  // A Class III pentagon: five vertices and five face-edge crossings.
  b = CellToBoundary(Cell("81083ffffffffff"));
  ASSERT_EQ(b.size(), 10u);
  EXPECT_NEAR(RadiansToDegrees(b[0].lng), 4.0126208984499678, 1e-12);
  EXPECT_NEAR(RadiansToDegrees(b[0].lat), 63.327061328018402, 1e-12);
  EXPECT_NEAR(RadiansToDegrees(b[9].lng), 3.6999332602879069, 1e-12);
}

TEST(H3Grid, CentresMapBackToTheirCellsAtEveryResolution) {
  std::mt19937_64 rng(20261203);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int n = 0; n < 2000; ++n) {
    LatLng g{std::asin(u(rng)), u(rng) * kPi};
    for (int res = 0; res <= kMaxRes; ++res) {
      Index h = LatLngToCell(g, res);
      ASSERT_TRUE(IsValidCell(h)) << ToString(h);
      ASSERT_EQ(Resolution(h), res);
      ASSERT_EQ(LatLngToCell(CellToLatLng(h), res), h) << ToString(h);
      if (res > 0) ASSERT_EQ(Parent(h, res - 1), Parent(LatLngToCell(g, res), res - 1));
    }
  }
}

TEST(H3Grid, ChildrenAreTheCellsWhoseParentIsTheCell) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int n = 0; n < 50; ++n) {
    Index h = LatLngToCell({std::asin(u(rng)), u(rng) * kPi}, n % 12);
    std::vector<Index> children;
    Children(h, Resolution(h) + 2, children);
    ASSERT_EQ(children.size(), 49u);
    ASSERT_EQ(ChildCount(h, Resolution(h) + 2), 49u);
    EXPECT_TRUE(std::is_sorted(children.begin(), children.end()));
    for (Index c : children) {
      EXPECT_TRUE(IsValidCell(c));
      EXPECT_EQ(Parent(c, Resolution(h)), h);
    }
    // The centre child holds the parent's centre.
    EXPECT_EQ(LatLngToCell(CellToLatLng(h), Resolution(h) + 2), children[0]);
  }
}

TEST(H3Grid, TwelvePentagonsPerResolutionWithFiveNeighbors) {
  for (int res = 0; res <= kMaxRes; ++res) {
    std::vector<Index> pentagons = Pentagons(res);
    ASSERT_EQ(pentagons.size(), 12u);
    for (Index p : pentagons) {
      ASSERT_TRUE(IsValidCell(p));
      EXPECT_TRUE(IsPentagon(p));
      EXPECT_EQ(Neighbors(p).size(), 5u) << ToString(p);
      EXPECT_EQ(LatLngToCell(CellToLatLng(p), res), p);
      EXPECT_EQ(CellToBoundary(p).size(), IsClassIII(res) ? 10u : 5u);
      if (res < kMaxRes) EXPECT_EQ(ChildCount(p, res + 1), 6u);
    }
  }
  // The reference library's order for a pentagon's disk (its fallback traversal's table).
  std::vector<std::pair<Index, int>> disk = Disk(Cell("8009fffffffffff"), 1);
  std::vector<std::string> tokens;
  for (auto [c, d] : disk) tokens.push_back(ToString(c));
  EXPECT_EQ(tokens, (std::vector<std::string>{"8007fffffffffff", "8009fffffffffff",
                                              "8019fffffffffff", "8001fffffffffff",
                                              "801ffffffffffff", "8011fffffffffff"}));
}

TEST(H3Grid, NeighborsAreMutualAndAdjacent) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int n = 0; n < 300; ++n) {
    Index h = LatLngToCell({std::asin(u(rng)), u(rng) * kPi}, n % 16);
    std::vector<Index> around = Neighbors(h);
    EXPECT_EQ(around.size(), IsPentagon(h) ? 5u : 6u);
    for (Index m : around) {
      std::vector<Index> back = Neighbors(m);
      EXPECT_NE(std::find(back.begin(), back.end(), h), back.end()) << ToString(h);
    }
    std::set<Index> ring2;
    for (auto [c, d] : Disk(h, 2)) {
      if (d == 2) ring2.insert(c);
    }
    EXPECT_LE(ring2.size(), 12u);
  }
}

TEST(H3Grid, TablesAgreeWithEachOther) {
  for (int bc = 0; bc < kBaseCells; ++bc) {
    // Each base cell sits at its home coordinates with no rotation.
    const int8_t* d = &kBaseCellData[bc * 7];
    const int8_t* at = &kFaceIjkBaseCells[(((d[0] * 3 + d[1]) * 3 + d[2]) * 3 + d[3]) * 2];
    EXPECT_EQ(at[0], bc);
    EXPECT_EQ(at[1], 0);
    // Neighbourhood is symmetric and rotations compose to none.
    for (int dir = 1; dir < 7; ++dir) {
      int n = kBaseCellNeighbors[bc * 7 + dir];
      if (n == 127) {
        EXPECT_TRUE(IsPentagonBase(bc));
        continue;
      }
      bool back = false;
      for (int e = 1; e < 7; ++e) back = back || kBaseCellNeighbors[n * 7 + e] == bc;
      EXPECT_TRUE(back) << bc << " " << n;
    }
  }
}

TEST(H3Grid, InvalidIndexesAreRejected) {
  EXPECT_FALSE(FromString("abc").has_value());
  EXPECT_FALSE(FromString("").has_value());
  EXPECT_FALSE(FromString("862a1072fffffff0").has_value());   // digits past the resolution
  EXPECT_FALSE(FromString("0862a1072fffffff1").has_value());  // 17 digits
  EXPECT_FALSE(FromString("862a107ffffffff").has_value());    // digit 7 within the resolution
  EXPECT_TRUE(FromString("80f3fffffffffff").has_value());     // base cell 121 is the last
  EXPECT_FALSE(FromString("80f5fffffffffff").has_value());    // base cell 122
  EXPECT_FALSE(FromString("8108bfffffffff7").has_value());
  EXPECT_TRUE(FromString("862A1072FFFFFFF").has_value());
  EXPECT_FALSE(FromString("81087ffffffffff").has_value());    // pentagon 4's deleted K child
}

TEST(H3Grid, PolygonFillTakesCellsWhoseCentresAreInside) {
  // KQL reference, geo_polygon_to_h3cells: Madrid at resolution 6 has 13 cells.
  Ring ring;
  for (auto [lng, lat] : std::vector<std::pair<double, double>>{
           {-3.659, 40.553}, {-3.913, 40.409}, {-3.729, 40.273}, {-3.524, 40.440}}) {
    ring.push_back(Degrees(lat, lng));
  }
  std::vector<Index> cells;
  ASSERT_EQ(PolygonToCells({{ring}}, 6, 1000, [] { return true; }, cells), FillStatus::kOk);
  EXPECT_EQ(cells.size(), 13u);
  for (Index c : cells) EXPECT_EQ(Resolution(c), 6);
  EXPECT_EQ(PolygonToCells({{ring}}, 6, 12, [] { return true; }, cells), FillStatus::kTooMany);
  EXPECT_EQ(PolygonToCells({{ring}}, 15, 61680, [] { return true; }, cells),
            FillStatus::kTooMany);
  EXPECT_EQ(PolygonToCells({{ring}}, 6, 1000, [] { return false; }, cells),
            FillStatus::kStopped);
}

}  // namespace
}  // namespace cmk::kql::fn::h3
