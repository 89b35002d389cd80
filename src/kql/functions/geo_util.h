#pragma once
// Private helpers of the geo_* family (geo*.cc): argument checking, coordinate validation, GeoJSON
// reading and writing, and the conversions to S2's spherical shapes that Kusto's geo functions
// are built on. Every reader is bounded (kMaxGeoVertices) and answers nullopt for invalid input,
// which the functions turn into null as documented; nothing here throws or aborts on user input.
#include <s2/mutable_s2shape_index.h>
#include <s2/s2latlng.h>
#include <s2/s2point.h>
#include <s2/s2polygon.h>
#include <s2/s2polyline.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

// Kusto's sphere: S2's mean Earth radius (the documented examples reproduce with it).
inline constexpr double kEarthRadiusMeters = 6371010.0;
// The most vertices one GeoJSON value may hold. Kusto documents no limit; this bounds the work
// and memory of one row (a polygon this size is ~16 MB of S2 points).
inline constexpr size_t kMaxGeoVertices = 1 << 20;

// result_type for a geo function: `kinds` has one letter per argument ('n' number: int, long,
// real or decimal; 'd' dynamic; 's' string; 'b' bool), extra letters for optional arguments.
std::function<Result<Type>(Types)> GeoSignature(std::string_view fn, std::string_view kinds,
                                                Type ret);
// Registers `name` with GeoSignature(name, kinds, ret): `min` required arguments, one optional
// argument for each further letter of `kinds`.
void AddGeoFunction(Registry& r, std::string_view name, int min, std::string_view kinds, Type ret,
                    decltype(ScalarFunction::eval) eval);

// A numeric argument at `row` as a double; nullopt when null.
std::optional<double> RealArg(const Column& c, size_t row);
// An int argument at `row`; nullopt when null or not a whole number.
std::optional<int64_t> IntArg(const Column& c, size_t row);

struct LngLat {
  double lng = 0;
  double lat = 0;
  bool operator==(const LngLat&) const = default;
};
// Longitude in [-180, 180] and latitude in [-90, 90] (NaN is neither).
bool ValidLngLat(double lng, double lat);
// Both coordinates of a row (arguments `lng`, `lat`), nullopt when null or invalid.
std::optional<LngLat> PointArg(const Column& lng, const Column& lat, size_t row);
inline S2Point ToS2(LngLat p) { return S2LatLng::FromDegrees(p.lat, p.lng).ToPoint(); }
// An edge Kusto accepts: distinct ends less than 180 degrees apart (the shorter way is then
// unambiguous). Antipodes are compared with a margin of 1e-12 radians (6 micrometres), as
// converting degrees rarely gives exactly opposite vectors.
bool ValidEdge(const S2Point& a, const S2Point& b);
LngLat FromS2(const S2Point& p);

// --- GeoJSON ----------------------------------------------------------------------------------
using Path = std::vector<LngLat>;  // a line or a ring (rings repeat their first vertex last)
struct GeoShape {
  enum class Kind { kPoint, kLine, kPolygon };
  Kind kind = Kind::kPoint;
  std::vector<LngLat> points;                 // kPoint: Point or MultiPoint
  std::vector<Path> lines;                    // kLine: LineString or MultiLineString
  std::vector<std::vector<Path>> polygons;    // kPolygon: each one's shell then holes
  bool multi = false;                         // a Multi* type
};
enum GeoAccept : unsigned { kAcceptPoint = 1, kAcceptLine = 2, kAcceptPolygon = 4 };
// Reads a GeoJSON Point/MultiPoint, LineString/MultiLineString or Polygon/MultiPolygon whose
// kind is in `accept`; nullopt for anything else, for coordinates out of range and for more than
// kMaxGeoVertices vertices. Shapes are not validated further here.
std::optional<GeoShape> ParseGeoShape(std::string_view json, unsigned accept);
// {"type":"Point","coordinates":[lng,lat]} and friends, compact JSON.
std::string PointJson(LngLat p);
bj::array PathJson(const Path& path);
// LineString (Polygon) when there is one and `multi` is false, else MultiLineString
// (MultiPolygon).
std::string LineJson(const std::vector<Path>& lines, bool multi = false);
std::string PolygonJson(const std::vector<std::vector<Path>>& polygons, bool multi = false);
// The loops of an S2Polygon as GeoJSON polygons: each shell (counter-clockwise) followed by its
// holes (clockwise), rings closed; nullopt for an empty or full polygon, which GeoJSON cannot
// express.
std::optional<std::string> S2PolygonJson(const S2Polygon& polygon);
// Appends the polygon's shells with their holes (as above) to `polygons`.
void AppendS2Polygon(const S2Polygon& polygon, std::vector<std::vector<Path>>& polygons);

// --- S2 shapes ---------------------------------------------------------------------------------
// The polygon (the union of a MultiPolygon's members) with Kusto's rules: each ring at least
// four positions, closed, at least three distinct vertices, no repeated consecutive vertex, the
// smaller of the two regions a ring bounds, rings neither crossing nor sharing edges. nullptr
// when any rule is broken.
std::unique_ptr<S2Polygon> ToS2Polygon(const GeoShape& shape);
// The lines of a LineString/MultiLineString: at least two vertices each, no zero-length or
// antipodal edge. Empty when invalid.
std::vector<std::unique_ptr<S2Polyline>> ToS2Polylines(const GeoShape& shape);

// A polygon argument's S2Polygon (ParseGeoShape + ToS2Polygon); nullptr when invalid.
using PolygonPtr = std::unique_ptr<S2Polygon>;
PolygonPtr ParseGeoPolygon(std::string_view json);
// A line argument's polylines with an index over them for distance and boolean queries.
struct Lines {
  std::vector<std::unique_ptr<S2Polyline>> polylines;
  MutableS2ShapeIndex index;
};
using LinesPtr = std::shared_ptr<Lines>;
LinesPtr ParseGeoLines(std::string_view json);  // nullptr when invalid

// Parses the dynamic argument of each row once: a constant column (a literal polygon) or a
// dictionary-coded one is parsed once, not once per row. T is the converted shape.
template <typename T>
class ShapeCache {
 public:
  // `convert(std::string_view json) -> T`.
  template <typename Convert>
  const T& Get(const Column& c, size_t row, Convert convert) {
    // The same bytes at the same place (a constant's, a dictionary entry's) are the same text.
    std::string_view text = c.IsNull(row) ? std::string_view("null") : c.Str(row);
    if (text.data() != last_.data() || text.size() != last_.size() || !valid_) {
      value_ = convert(text);
      last_ = text;
      valid_ = true;
    }
    return value_;
  }

 private:
  std::string_view last_;
  bool valid_ = false;
  T value_{};
};

// Checks the query's deadline every so often from a per-row loop (see QueryBudget::Tick).
Status GeoTick(const FunctionContext& ctx);

// Stores one result: a bool, long or real in ints/reals, a string or dynamic text in strings;
// nullopt is null (the empty string for a string result, which is never null in Kusto).
inline void PutValue(Column& out, size_t i, const std::optional<bool>& v) {
  if (v) out.ints[i] = *v ? 1 : 0; else SetNull(out, i);
}
inline void PutValue(Column& out, size_t i, const std::optional<double>& v) {
  if (v) out.reals[i] = *v; else SetNull(out, i);
}
inline void PutValue(Column& out, size_t i, std::optional<std::string>&& v) {
  if (v) out.strings[i] = std::move(*v); else if (out.type != Type::kString) SetNull(out, i);
}
// A column of type `t` over the rows the arguments span, value i being f(i) (an optional as
// above); f(i) is nullopt without being called when any argument is null at row i, and the
// deadline is checked as rows go.
template <typename F>
Result<Column> GeoMap(Args a, const FunctionContext& ctx, Type t, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    RETURN_IF_ERROR(GeoTick(ctx));
    if (AnyNull(a, i)) {
      PutValue(out, i, decltype(f(i)){});
    } else {
      PutValue(out, i, f(i));
    }
  }
  return out;
}

}  // namespace cmk::kql::fn
