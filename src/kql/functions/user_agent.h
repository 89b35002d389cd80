#pragma once
// parse_user_agent (user_agent.cc), registered by misc.cc's RegisterMisc.
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterUserAgent(Registry& r);

}  // namespace cmk::kql::fn
