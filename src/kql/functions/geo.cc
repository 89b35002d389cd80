// Geospatial functions: geo_* on S2 cells, geohash, GEOS geometry and WGS-84 geodesics.
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterGeo(Registry& r) { (void)r; }

}  // namespace cmk::kql::fn
