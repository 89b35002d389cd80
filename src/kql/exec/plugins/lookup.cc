// Lookup plugins (ipv4_lookup, ipv6_lookup, geo_line_lookup, geo_polygon_lookup): being built
// (issue #18).
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {}  // namespace cmk::kql::plugins
