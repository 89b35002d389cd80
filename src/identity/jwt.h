#pragma once
// JWS compact serialization with RS256: header.payload.signature, base64url without padding.
#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "crypto/rsa.h"

namespace cmk::identity {

inline constexpr size_t kMaxJwtSize = 16 * 1024;

struct Jwt {
  boost::json::object header;
  boost::json::object payload;
  std::string signing_input;  // "<b64 header>.<b64 payload>"
  std::vector<uint8_t> signature;
};

Result<std::string> EncodeJwt(const boost::json::object& header, const boost::json::object& payload,
                              const crypto::RsaKey& key);
// Parses the structure only (no signature check). Fails with InvalidArgument on anything that is
// not three base64url parts holding JSON objects, or on tokens over kMaxJwtSize.
Result<Jwt> DecodeJwt(std::string_view token);

}  // namespace cmk::identity
