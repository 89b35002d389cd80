// Array, bag and set functions over dynamic values: array_*, set_*, zip, scalar range, ...
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterArrays(Registry& r) { (void)r; }

}  // namespace cmk::kql::fn
