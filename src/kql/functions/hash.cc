// Hash functions: hash_sha256, hash_sha1, hash_md5 (lower-case hex of the digest of the value's
// tostring() text, through OpenSSL) and hash / hash_xxhash64 (XXH64, seed 0, as a long).
//
// hash() hashes what Kusto hashes, which matches the documented results: a string's UTF-8
// bytes (hash("World") == 1846988464401551951) and a datetime's .NET ticks, 100 ns since
// 0001-01-01, as 8 little-endian bytes (hash(datetime(2015-01-01)) == 1380966698541616202).
// The docs give no example for other types: longs, timespans and bools hash as 8-byte
// little-endian integers, ints as 4 bytes, reals as their IEEE bytes, guids and dynamics as
// their text. hash_combine/hash_many are not provided: the documented results could not be
// reproduced from XXH64 (tests/kql/README.md).
#include <xxhash.h>

#include <openssl/evp.h>

#include <cstring>

#include "base/encoding.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

Result<Column> EvalDigest(std::string_view name, const EVP_MD* md, Args a,
                          const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  std::string text;
  for (size_t i = 0; i < s.rows; ++i) {
    text = ValueToString(*a[0], i);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &len, md, nullptr) != 1) {
      return Internal(std::string(name) + ": digest failed");
    }
    out.strings[i] = HexEncode(std::span<const uint8_t>(digest, len));
  }
  return out;
}

// XXH64, seed 0: libxxhash (Debian's libxxhash-dev).
uint64_t Xxh64(const uint8_t* p, size_t n) { return XXH64(p, n, 0); }

// Ticks from 0001-01-01 to 1970-01-01 (.NET DateTime's epoch to ours).
constexpr int64_t kDotNetEpochTicks = 621'355'968'000'000'000;

uint64_t HashValue(const Column& c, size_t row, std::string& scratch) {
  auto bytes = [](const auto& v) { return Xxh64(reinterpret_cast<const uint8_t*>(&v), sizeof v); };
  switch (c.type) {
    case Type::kString:
      return Xxh64(reinterpret_cast<const uint8_t*>(c.Str(row).data()), c.Str(row).size());
    case Type::kDateTime:
      return bytes(static_cast<int64_t>(static_cast<uint64_t>(c.Int(row)) + kDotNetEpochTicks));
    case Type::kInt:
      return bytes(static_cast<int32_t>(c.Int(row)));
    case Type::kBool:
    case Type::kLong:
    case Type::kTimespan:
      return bytes(c.Int(row));
    case Type::kReal:
    case Type::kDecimal:
      return bytes(c.Real(row));
    case Type::kGuid:
    case Type::kDynamic:
      break;
  }
  scratch = ValueToString(c, row);
  return Xxh64(reinterpret_cast<const uint8_t*>(scratch.data()), scratch.size());
}

// hash(source[, mod]): null for a null source or a mod below 1; with mod, the unsigned hash
// modulo mod (0..mod-1, as documented).
Result<Column> EvalXxh64(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kLong, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (AnyNull(a, i) || (a.size() > 1 && a[1]->Int(i) < 1)) {
      SetNull(out, i);
      continue;
    }
    uint64_t h = HashValue(*a[0], i, scratch);
    if (a.size() > 1) h %= static_cast<uint64_t>(a[1]->Int(i));
    out.ints[i] = static_cast<int64_t>(h);
  }
  return out;
}

Result<Type> HashType(std::string_view fn, Types t) {
  if (t.size() > 1 && !IsIntegral(t[1])) return ArgTypeError(fn, 1, t[1], "int or long");
  return Type::kLong;
}

}  // namespace

void RegisterHash(Registry& r) {
  for (auto [name, md] : {std::pair{"hash_sha256", EVP_sha256()},
                          std::pair{"hash_sha1", EVP_sha1()}, std::pair{"hash_md5", EVP_md5()}}) {
    std::string_view n = name;
    const EVP_MD* digest = md;  // clang 14 cannot capture a structured binding
    r.Function({n, 1, 1, Returns(Type::kString), [n, digest](Args a, const FunctionContext& c) {
                  return EvalDigest(n, digest, a, c);
                }});
  }
  for (std::string_view n : {"hash", "hash_xxhash64"}) {
    r.Function({n, 1, 2, [n](Types t) { return HashType(n, t); }, EvalXxh64});
  }
}

}  // namespace cmk::kql::fn
