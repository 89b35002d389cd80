#pragma once
// JSON persistence of vault and key records (the metadata store's document bodies).
#include <boost/json.hpp>

#include "base/status.h"
#include "keyvault/types.h"

namespace cmk::keyvault {

boost::json::object VaultToJson(const Vault& v);
Result<Vault> VaultFromJson(const boost::json::object& o);
boost::json::object KeyToJson(const Key& k);
Result<Key> KeyFromJson(const boost::json::object& o);
boost::json::object AccessPolicyToJson(const AccessPolicy& p);
// Parses an ARM access policy entry; permission names are lower-cased.
Result<AccessPolicy> AccessPolicyFromJson(const boost::json::value& v);

}  // namespace cmk::keyvault
