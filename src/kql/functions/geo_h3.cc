// H3 cells (geo_point_to_h3cell, geo_h3cell_*): Uber's hexagonal hierarchical grid on an
// icosahedron. Being built (issue #18); nothing is registered yet.
#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {

void RegisterGeoH3(Registry&) {}

}  // namespace cmk::kql::fn
