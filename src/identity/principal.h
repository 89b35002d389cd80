#pragma once
#include <string>

namespace cmk::identity {

enum class PrincipalType { kServicePrincipal, kManagedIdentity };

// An authenticated caller, as established from a validated token.
struct Principal {
  std::string object_id;  // `oid`
  std::string app_id;     // `appid` (client id)
  std::string tenant_id;  // `tid`
  std::string display_name;
  PrincipalType type = PrincipalType::kServicePrincipal;
};

inline const char* PrincipalTypeName(PrincipalType t) {
  return t == PrincipalType::kManagedIdentity ? "ServicePrincipal" : "ServicePrincipal";
}

}  // namespace cmk::identity
