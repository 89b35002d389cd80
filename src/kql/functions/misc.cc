// Documented functions that belong to no larger family: parsers of user agents, XML, versions, ...
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterMisc(Registry& r) { (void)r; }

}  // namespace cmk::kql::fn
