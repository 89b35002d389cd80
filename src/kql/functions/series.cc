// Series functions: series_* over dynamic arrays of numbers (make-series output).
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterSeries(Registry& r) { (void)r; }

}  // namespace cmk::kql::fn
