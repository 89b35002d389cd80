// Binding of the scan and reduce operators: being built (issue #18).
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {}  // namespace cmk::kql::internal
