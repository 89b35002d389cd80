// The scan operator's executor: being built (issue #18).
#include "kql/exec/operators.h"

namespace cmk::kql {}  // namespace cmk::kql
