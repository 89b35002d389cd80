#pragma once
// Shared by the files of KeyVaultService (internal to keyvault/).
#include <string>
#include <utility>

#include "base/status.h"

namespace cmk::keyvault {

// The AAD of a Managed HSM's sealed domain key: hsm_data_plane.cc seals, key_vault_service.cc opens.
inline constexpr char kDomainKeyAad[] = "cmklogs/mhsm-domain-key/v1";

inline Status BadParameter(std::string message) { return InvalidArgument(std::move(message), "BadParameter"); }

}  // namespace cmk::keyvault
