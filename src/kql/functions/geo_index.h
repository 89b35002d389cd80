#pragma once
// An index over a column of GeoJSON polygons or lines, for the geo lookup plugins
// (exec/plugins/lookup.cc): which rows' shapes contain a point, or lie within a distance of it,
// with the semantics of geo_point_in_polygon, geo_distance_point_to_polygon and
// geo_distance_point_to_line. S2 stays in geo_index.cc (built without ASan, see functions.cmake):
// this header names no S2 type, so ASan-built code may use it.
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kql/core/budget.h"
#include "kql/core/column.h"

namespace cmk::kql::fn {

class GeoShapeIndex {
 public:
  enum class Kind { kPolygon, kLine };

  // Indexes the first `rows` values of `shapes` (a dynamic column). Null values and values that
  // are not a valid shape of `kind` (as geo_point_in_polygon / geo_distance_point_to_line would
  // reject them) are left out: they match nothing. The shapes' memory is charged to `budget`
  // (may be null) for the index's lifetime. Errors: the budget's (memory, deadline).
  static Result<std::unique_ptr<GeoShapeIndex>> Build(Kind kind, const Column& shapes, size_t rows,
                                                     QueryBudget* budget);
  ~GeoShapeIndex();
  GeoShapeIndex(const GeoShapeIndex&) = delete;
  GeoShapeIndex& operator=(const GeoShapeIndex&) = delete;

  // Replaces `rows` with the rows (ascending) matching the point (lng, lat): with
  // `radius_m` < 0, the polygons containing it (geo_point_in_polygon; lines never match); else
  // the shapes at most `radius_m` meters from it (0 inside a polygon). An invalid point matches
  // nothing. Not thread-safe (queries reuse per-index scratch state).
  void Match(double lng, double lat, double radius_m, std::vector<uint32_t>& rows);

 private:
  struct Impl;
  explicit GeoShapeIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmk::kql::fn
