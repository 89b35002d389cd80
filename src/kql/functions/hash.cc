// Hash functions: hash_sha256 (lower-case hex of the SHA-256 of the value's tostring() text,
// through OpenSSL).
#include <openssl/evp.h>

#include "base/encoding.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

Result<Column> EvalSha256(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  for (size_t i = 0; i < s.rows; ++i) {
    std::string text = ValueToString(*a[0], i);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1) {
      return Internal("hash_sha256: digest failed");
    }
    out.strings[i] = HexEncode(std::span<const uint8_t>(md, len));
  }
  return out;
}

}  // namespace

void RegisterHash(Registry& r) {
  r.Function({"hash_sha256", 1, 1, Returns(Type::kString), EvalSha256});
}

}  // namespace cmk::kql::fn
