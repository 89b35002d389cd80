#pragma once
// Vault and key records as the key vault service keeps them (in memory, persisted as JSON).
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/time_format.h"

namespace cmk::keyvault {

enum class VaultKind { kVault, kManagedHsm };

struct AccessPolicy {
  std::string tenant_id;
  std::string object_id;
  std::string application_id;
  std::vector<std::string> keys;  // permissions, lower case
  boost::json::object raw;        // as given (secrets, certificates, storage), echoed back
};

struct Vault {
  std::string name;  // as created
  VaultKind kind = VaultKind::kVault;
  std::string resource_id;
  std::string subscription_id;
  std::string resource_group;
  std::string location;
  std::string tenant_id;
  std::string sku_family = "A";
  std::string sku_name = "standard";
  bool soft_delete = true;
  int retention_days = 90;
  bool purge_protection = false;
  bool rbac = false;
  std::vector<AccessPolicy> access_policies;
  std::vector<std::string> initial_admins;  // managed HSM
  boost::json::object tags;
  boost::json::object extra_properties;  // other writable properties, echoed back
  TimePoint created;
  std::optional<TimePoint> deleted;  // soft-deleted vault
  std::optional<TimePoint> scheduled_purge;
};

struct KeyVersion {
  std::string version;  // 32 lower-case hex
  std::string kty;      // RSA, RSA-HSM, oct-HSM
  int key_size = 0;
  std::vector<std::string> key_ops;
  bool enabled = true;
  std::optional<int64_t> nbf;
  std::optional<int64_t> exp;
  int64_t created = 0;
  int64_t updated = 0;
  boost::json::object tags;
  std::vector<uint8_t> n, e;      // RSA public parts
  std::string sealed_private;     // software keys: base64(AES-GCM(master, PKCS#8 PEM))
  // Managed HSM keys (HSMs with a security domain): sealed_private is sealed under the HSM's
  // domain key instead (PKCS#8 PEM for RSA-HSM, the 32 key bytes for oct-HSM), so that the
  // security domain restores them into another HSM.
  bool domain_sealed = false;
  std::string hsm_id;             // HSM keys: PKCS#11 object id
};

struct RotationPolicy {
  // (trigger kind, ISO duration, action) with trigger kind "timeAfterCreate"/"timeBeforeExpiry".
  struct Action {
    std::string trigger;
    std::string duration;
    std::string type;  // "Rotate" | "Notify"
  };
  std::vector<Action> actions;
  std::string expiry_time;  // ISO duration or empty
  int64_t created = 0;
  int64_t updated = 0;
};

struct Key {
  std::string name;
  std::vector<std::string> versions;            // in creation order
  std::map<std::string, KeyVersion> by_version;  // lower-case version -> version
  std::optional<int64_t> deleted_date;
  std::optional<int64_t> scheduled_purge_date;
  std::optional<RotationPolicy> rotation_policy;
  const KeyVersion& current() const { return by_version.at(versions.back()); }
};

}  // namespace cmk::keyvault
