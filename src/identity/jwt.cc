#include "identity/jwt.h"

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::identity {

Result<std::string> EncodeJwt(const boost::json::object& header, const boost::json::object& payload,
                              const crypto::RsaKey& key) {
  std::string input = Base64UrlEncode(AsBytes(boost::json::serialize(header))) + "." +
                      Base64UrlEncode(AsBytes(boost::json::serialize(payload)));
  ASSIGN_OR_RETURN(std::vector<uint8_t> sig, key.SignRs256(AsBytes(input)));
  return input + "." + Base64UrlEncode(sig);
}

Result<Jwt> DecodeJwt(std::string_view token) {
  if (token.size() > kMaxJwtSize) return InvalidArgument("token is too large");
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return InvalidArgument("token is not a JWT");
  size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return InvalidArgument("token is not a JWT");
  }
  Jwt jwt;
  jwt.signing_input = std::string(token.substr(0, d2));
  ASSIGN_OR_RETURN(std::vector<uint8_t> h, Base64UrlDecode(token.substr(0, d1)));
  ASSIGN_OR_RETURN(std::vector<uint8_t> p, Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1)));
  ASSIGN_OR_RETURN(jwt.signature, Base64UrlDecode(token.substr(d2 + 1)));
  ASSIGN_OR_RETURN(jwt.header, json::ParseObject(AsChars(h), 8));
  ASSIGN_OR_RETURN(jwt.payload, json::ParseObject(AsChars(p), 8));
  return jwt;
}

}  // namespace cmk::identity
