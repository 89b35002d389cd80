// The H3 grid against its own invariants and against answers of the reference library (uber/h3
// v4.1.0, run separately; the values are quoted here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <set>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {


Index Cell(std::string_view s) { return FromString(s).value_or(0); }

LatLng Degrees(double lat, double lng) { return {DegreesToRadians(lat), DegreesToRadians(lng)}; }

std::vector<std::pair<Index, int>> Disk(Index h, int k) {
  std::vector<std::pair<Index, int>> out;
  EXPECT_TRUE(GridDiskDistances(
      h, k, [] { return true; }, out));
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

// Answers of the reference library (uber/h3 v4.1.0) for random points: the cell and the number
// of boundary vertices (more than 6 where a Class III edge crosses onto another face).
struct PointCase {
  double lat, lng;
  int res;
  const char* cell;
  int vertices;
};
constexpr PointCase kPointCases[] = {
    {-7.522237, 173.203735, 0, "807ffffffffffff", 5},
    {19.888822, -129.864911, 1, "81503ffffffffff", 8},
    {16.637525, -7.950763, 2, "82555ffffffffff", 6},
    {32.396060, -83.438087, 3, "8344c0fffffffff", 6},
    {-33.746702, -43.201822, 4, "84c584dffffffff", 6},
    {-16.721349, 126.082440, 5, "8594f0dbfffffff", 6},
    {-29.773838, -18.770839, 6, "86c1a300fffffff", 6},
    {3.764727, 17.297187, 7, "8782929b1ffffff", 6},
    {41.994295, 13.256721, 8, "881e803a69fffff", 6},
    {4.851964, -3.421870, 9, "8974249818fffff", 6},
    {-30.396243, -16.206881, 10, "8ac1a88c1bb7fff", 6},
    {-40.808006, 101.257537, 11, "8bc853428092fff", 6},
    {-26.860918, 134.529786, 12, "8cb8a5cd62303ff", 6},
    {78.511413, 114.274211, 13, "8d050074c08da3f", 6},
    {-25.588972, -175.591675, 14, "8e9b25848a9554f", 6},
    {-39.791853, -17.089260, 15, "8fc0aa491a98065", 6},
    {9.700024, -83.338267, 0, "8067fffffffffff", 6},
    {-75.270627, 110.478095, 1, "81f1bffffffffff", 6},
    {-14.220002, 160.528155, 2, "829eeffffffffff", 6},
    {24.012390, -69.838317, 3, "834c12fffffffff", 6},
    {46.136715, -122.604818, 4, "8428f39ffffffff", 6},
    {34.271722, 63.104767, 5, "854341c3fffffff", 6},
    {-59.855512, 175.156636, 6, "86ea96ca7ffffff", 6},
    {12.107885, 116.047534, 7, "87690b76bffffff", 6},
    {-64.488710, 144.818965, 8, "88eca42ec7fffff", 6},
    {45.844918, -79.976634, 9, "892b9edb443ffff", 6},
    {-40.565687, -66.072050, 10, "8ac329a2d897fff", 6},
    {-30.868086, -72.417221, 11, "8bb21b619560fff", 6},
    {62.732399, -7.280754, 12, "8c09367597891ff", 6},
    {-14.897540, -41.551201, 13, "8d81224968ead7f", 6},
    {-81.317325, 41.834285, 14, "8ef15b134aab35f", 6},
    {-32.550106, -126.776612, 15, "8fc6de19254e192", 6},
    {53.679325, 69.079433, 0, "8021fffffffffff", 6},
    {-29.851188, 161.103918, 1, "81bfbffffffffff", 6},
    {-75.344508, -148.048016, 2, "82f357fffffffff", 6},
    {-10.246198, 142.289672, 3, "839cf1fffffffff", 6},
    {-28.714936, 171.786654, 4, "84ba403ffffffff", 6},
    {-15.956464, 9.293510, 5, "85acd17bfffffff", 6},
    {55.267986, 36.052384, 6, "86118514fffffff", 6},
    {30.385703, -134.392265, 7, "8750c9441ffffff", 6},
    {4.991858, -11.452888, 8, "8875913307fffff", 6},
    {-57.677832, -85.856680, 9, "89e851a8177ffff", 6},
    {58.806868, -147.976545, 10, "8a0c43640a5ffff", 6},
    {-58.900161, 33.028231, 11, "8be79a451773fff", 6},
    {-21.011425, -160.304955, 12, "8cb4ee68cb35dff", 6},
    {2.808350, -157.998249, 13, "8d88cb18381563f", 6},
    {37.248577, 11.909368, 14, "8e3869d8d4e90af", 6},
    {-71.053127, 26.479771, 15, "8fe70da40081351", 6},
};

TEST(H3Grid, RandomPointsMatchTheReferenceLibrary) {
  for (const PointCase& c : kPointCases) {
    Index h = LatLngToCell(Degrees(c.lat, c.lng), c.res);
    EXPECT_EQ(ToString(h), c.cell) << c.lat << " " << c.lng << " " << c.res;
    EXPECT_EQ(CellToBoundary(h).size(), static_cast<size_t>(c.vertices)) << c.cell;
  }
}

// Disks of distance 2 next to pentagons, as the reference library orders them (its fallback
// traversal's hash table: the spiral walk cannot pass a pentagon).
struct DiskCase {
  const char* origin;
  std::vector<std::pair<std::string, int>> cells;
};

TEST(H3Grid, DisksBesidePentagonsMatchTheReferenceLibraryOrder) {
  const DiskCase cases[] = {
      {"830806fffffffff",
       {{"830822fffffffff", 2},
        {"830810fffffffff", 2},
        {"830811fffffffff", 2},
        {"830823fffffffff", 2},
        {"830800fffffffff", 1},
        {"830814fffffffff", 2},
        {"830815fffffffff", 1},
        {"830802fffffffff", 1},
        {"830803fffffffff", 2},
        {"830805fffffffff", 2},
        {"830806fffffffff", 0},
        {"830804fffffffff", 1},
        {"830835fffffffff", 2},
        {"83081cfffffffff", 2},
        {"830830fffffffff", 2},
        {"830831fffffffff", 1},
        {"830832fffffffff", 2},
        {"830833fffffffff", 1}}},
      {"836203fffffffff",
       {{"836202fffffffff", 1},
        {"836203fffffffff", 0},
        {"83622afffffffff", 1},
        {"836218fffffffff", 2},
        {"836219fffffffff", 2},
        {"83622bfffffffff", 2},
        {"836228fffffffff", 2},
        {"83621cfffffffff", 1},
        {"83621dfffffffff", 1},
        {"83621efffffffff", 2},
        {"83622efffffffff", 2},
        {"836205fffffffff", 1},
        {"836204fffffffff", 2},
        {"836206fffffffff", 2},
        {"836223fffffffff", 2},
        {"836211fffffffff", 2},
        {"836215fffffffff", 2},
        {"836200fffffffff", 1}}},
      {"83a604fffffffff",
       {{"83a622fffffffff", 1},
        {"83a635fffffffff", 2},
        {"83a600fffffffff", 1},
        {"83a626fffffffff", 2},
        {"83a615fffffffff", 2},
        {"83a602fffffffff", 2},
        {"83a604fffffffff", 0},
        {"83a603fffffffff", 2},
        {"83a606fffffffff", 1},
        {"83a605fffffffff", 1},
        {"83a62afffffffff", 2},
        {"83a62efffffffff", 2},
        {"83a630fffffffff", 2},
        {"83a631fffffffff", 1},
        {"83a633fffffffff", 2},
        {"83a621fffffffff", 2},
        {"83a620fffffffff", 2},
        {"83a623fffffffff", 1}}},
  };
  for (const DiskCase& c : cases) {
    std::vector<std::pair<std::string, int>> got;
    for (auto [cell, d] : Disk(Cell(c.origin), 2)) got.push_back({ToString(cell), d});
    EXPECT_EQ(got, c.cells) << c.origin;
  }
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
    LatLng g{std::asin(u(rng)), u(rng) * std::numbers::pi};
    for (int res = 0; res <= kMaxRes; ++res) {
      Index h = LatLngToCell(g, res);
      ASSERT_TRUE(IsValidCell(h)) << ToString(h);
      ASSERT_EQ(Resolution(h), res);
      ASSERT_EQ(LatLngToCell(CellToLatLng(h), res), h) << ToString(h);
      if (res > 0) { ASSERT_EQ(Parent(h, res - 1), Parent(LatLngToCell(g, res), res - 1)); }
    }
  }
}

TEST(H3Grid, ChildrenAreTheCellsWhoseParentIsTheCell) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int n = 0; n < 50; ++n) {
    Index h = LatLngToCell({std::asin(u(rng)), u(rng) * std::numbers::pi}, n % 12);
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
      if (res < kMaxRes) { EXPECT_EQ(ChildCount(p, res + 1), 6u); }
    }
  }
  // The reference library's order for a pentagon's disk (its fallback traversal's table).
  std::vector<std::pair<Index, int>> disk = Disk(Cell("8009fffffffffff"), 1);
  std::vector<std::string> tokens;
  for (auto [c, d] : disk) tokens.push_back(ToString(c));
  EXPECT_EQ(tokens,
            (std::vector<std::string>{"8007fffffffffff", "8009fffffffffff", "8019fffffffffff",
                                      "8001fffffffffff", "801ffffffffffff", "8011fffffffffff"}));
}

// The reference's fallback walk re-enters cells so often that this disk took minutes walked
// literally; it is replayed on small ids and must still list every cell once, 5d at distance d.
TEST(H3Grid, PentagonDiskAtTheLargestDistanceListsEveryCellOnce) {
  std::vector<std::pair<Index, int>> disk = Disk(Cell("8f0800000000000"), 142);
  ASSERT_EQ(disk.size(), 1u + 5u * 142u * 143u / 2u);
  std::set<Index> distinct;
  std::vector<size_t> per_ring(143, 0);
  for (auto [c, d] : disk) {
    distinct.insert(c);
    ASSERT_TRUE(d >= 0 && d <= 142);
    ++per_ring[static_cast<size_t>(d)];
  }
  EXPECT_EQ(distinct.size(), disk.size());
  for (size_t d = 1; d <= 142; ++d) EXPECT_EQ(per_ring[d], 5 * d) << d;
  // Asked to stop, it stops.
  std::vector<std::pair<Index, int>> out;
  EXPECT_FALSE(GridDiskDistances(
      Cell("8f0800000000000"), 142, [] { return false; }, out));
}

TEST(H3Grid, NeighborsAreMutualAndAdjacent) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int n = 0; n < 300; ++n) {
    Index h = LatLngToCell({std::asin(u(rng)), u(rng) * std::numbers::pi}, n % 16);
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
  EXPECT_FALSE(FromString("81087ffffffffff").has_value());  // pentagon 4's deleted K child
}

TEST(H3Grid, PolygonFillTakesCellsWhoseCentresAreInside) {
  // KQL reference, geo_polygon_to_h3cells: Madrid at resolution 6 has 13 cells.
  Ring ring;
  for (auto [lng, lat] : std::vector<std::pair<double, double>>{
           {-3.659, 40.553}, {-3.913, 40.409}, {-3.729, 40.273}, {-3.524, 40.440}}) {
    ring.push_back(Degrees(lat, lng));
  }
  std::vector<Index> cells;
  ASSERT_EQ(PolygonToCells(
                {{ring}}, 6, 1000, [] { return true; }, cells),
            FillStatus::kOk);
  EXPECT_EQ(cells.size(), 13u);
  for (Index c : cells) EXPECT_EQ(Resolution(c), 6);
  EXPECT_EQ(PolygonToCells(
                {{ring}}, 6, 12, [] { return true; }, cells),
            FillStatus::kTooMany);
  EXPECT_EQ(PolygonToCells(
                {{ring}}, 15, 61680, [] { return true; }, cells),
            FillStatus::kTooMany);
  EXPECT_EQ(PolygonToCells(
                {{ring}}, 6, 1000, [] { return false; }, cells),
            FillStatus::kStopped);
}

}  // namespace
}  // namespace cmk::kql::fn::h3
