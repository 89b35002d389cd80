// User-analytics plugins (active_users_count, activity_*, sliding_window_counts,
// rolling_percentile, dcount_intersect, rows_near, ...): being built (issue #18).
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {}  // namespace cmk::kql::plugins
