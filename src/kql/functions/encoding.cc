// Encoding functions: base64_encode_tostring, base64_decode_tostring, base64_decode_toarray,
// base64_encode_fromarray, base64_encode_fromguid, base64_decode_toguid (standard alphabet,
// padded; base/encoding.h) and tohex. Text that does not decode gives null, as documented
// (base64_decode_tostring also when the bytes are not UTF-8).
#include "base/encoding.h"

#include <algorithm>
#include <cstdio>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

std::string_view TextOf(const Column& c, size_t i, std::string& scratch) {
  if (c.type == Type::kString || c.type == Type::kGuid) return c.Str(i);
  scratch = ValueToString(c, i);
  return scratch;
}

// Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points above U+10FFFF).
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;  // a bad lead byte or a cut sequence
    uint32_t cp = n == 0 ? b : n == 1 ? (b & 0x1F) : n == 2 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k <= n; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// A guid's 16 bytes in .NET's Guid.ToByteArray order: the first three fields little-endian.
constexpr size_t kGuidByteOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

template <typename F>  // F(Column& out, size_t row)
Result<Column> Map(Type t, Args a, const FunctionContext& ctx, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) f(out, i);
  return out;
}

Result<Column> EvalEncode(Args a, const FunctionContext& ctx) {
  std::string sc;
  return Map(Type::kString, a, ctx, [&](Column& out, size_t i) {
    out.strings[i] = Base64Encode(AsBytes(TextOf(*a[0], i, sc)));
  });
}

Result<Column> EvalDecodeToString(Args a, const FunctionContext& ctx) {
  std::string sc;
  return Map(Type::kString, a, ctx, [&](Column& out, size_t i) {
    Result<std::vector<uint8_t>> b = Base64Decode(TextOf(*a[0], i, sc));
    if (b.ok() && IsUtf8(AsChars(*b))) out.strings[i] = std::string(AsChars(*b));
  });
}

Result<Column> EvalDecodeToArray(Args a, const FunctionContext& ctx) {
  std::string sc;
  return Map(Type::kDynamic, a, ctx, [&](Column& out, size_t i) {
    Result<std::vector<uint8_t>> b = Base64Decode(TextOf(*a[0], i, sc));
    if (!b.ok()) return SetNull(out, i);
    bj::array arr;
    arr.reserve(b->size());
    for (uint8_t byte : *b) arr.emplace_back(static_cast<int64_t>(byte));
    out.strings[i] = WriteJson(arr);
  });
}

// base64_encode_fromarray(bytes): null unless every element is an integer 0..255.
Result<Column> EvalEncodeFromArray(Args a, const FunctionContext& ctx) {
  return Map(Type::kString, a, ctx, [&](Column& out, size_t i) {
    auto v = a[0]->IsNull(i) ? std::nullopt : ParseJson(a[0]->Str(i));
    if (!v || !v->is_array()) return;
    std::vector<uint8_t> bytes;
    for (const bj::value& e : v->get_array()) {
      if (!e.is_int64() || e.get_int64() < 0 || e.get_int64() > 255) return;
      bytes.push_back(static_cast<uint8_t>(e.get_int64()));
    }
    out.strings[i] = Base64Encode(bytes);
  });
}

Result<Column> EvalEncodeFromGuid(Args a, const FunctionContext& ctx) {
  return Map(Type::kString, a, ctx, [&](Column& out, size_t i) {
    std::optional<std::string> g = a[0]->IsNull(i) ? std::nullopt : ParseGuid(a[0]->Str(i));
    if (!g) return;
    std::string hex;
    for (char c : *g) {
      if (c != '-') hex.push_back(c);
    }
    uint8_t raw[16], bytes[16];
    for (size_t k = 0; k < 16; ++k)
      raw[k] = static_cast<uint8_t>(std::stoi(hex.substr(2 * k, 2), nullptr, 16));
    for (size_t k = 0; k < 16; ++k) bytes[k] = raw[kGuidByteOrder[k]];
    out.strings[i] = Base64Encode(bytes);
  });
}

Result<Column> EvalDecodeToGuid(Args a, const FunctionContext& ctx) {
  std::string sc;
  return Map(Type::kGuid, a, ctx, [&](Column& out, size_t i) {
    Result<std::vector<uint8_t>> b = Base64Decode(TextOf(*a[0], i, sc));
    if (!b.ok() || b->size() != 16) return SetNull(out, i);
    uint8_t raw[16];
    for (size_t k = 0; k < 16; ++k) raw[kGuidByteOrder[k]] = (*b)[k];
    std::string hex = HexEncode(raw);
    out.strings[i] = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                     hex.substr(16, 4) + "-" + hex.substr(20);
  });
}

// tohex(value[, minLength]): two's complement in the value's width (32 bits for int, 64 for
// long), lower-case, zero-padded to minLength (capped at 16).
Result<Column> EvalToHex(Args a, const FunctionContext& ctx) {
  return Map(Type::kString, a, ctx, [&](Column& out, size_t i) {
    if (AnyNull(a, i)) return SetNull(out, i);
    int64_t v = a[0]->Int(i);
    uint64_t bits = a[0]->type == Type::kInt ? static_cast<uint32_t>(v) : static_cast<uint64_t>(v);
    int width = a.size() > 1 ? static_cast<int>(std::clamp<int64_t>(a[1]->Int(i), 0, 16)) : 0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(bits));
    out.strings[i] = buf;
  });
}

}  // namespace

void RegisterEncoding(Registry& r) {
  r.Function({"base64_encode_tostring", 1, 1, Returns(Type::kString), EvalEncode});
  r.Function({"base64_decode_tostring", 1, 1, Returns(Type::kString), EvalDecodeToString});
  r.Function({"base64_decode_toarray", 1, 1, Returns(Type::kDynamic), EvalDecodeToArray});
  r.Function({"base64_encode_fromarray", 1, 1,
              [](Types t) -> Result<Type> {
                if (t[0] != Type::kDynamic)
                  return ArgTypeError("base64_encode_fromarray", 0, t[0], "dynamic");
                return Type::kString;
              },
              EvalEncodeFromArray});
  r.Function({"base64_encode_fromguid", 1, 1,
              [](Types t) -> Result<Type> {
                if (t[0] != Type::kGuid)
                  return ArgTypeError("base64_encode_fromguid", 0, t[0], "guid");
                return Type::kString;
              },
              EvalEncodeFromGuid});
  r.Function({"base64_decode_toguid", 1, 1, Returns(Type::kGuid), EvalDecodeToGuid});
  r.Function({"tohex", 1, 2,
              [](Types t) -> Result<Type> {
                for (size_t k = 0; k < t.size(); ++k) {
                  if (t[k] != Type::kInt && t[k] != Type::kLong)
                    return ArgTypeError("tohex", k, t[k], "int or long");
                }
                return Type::kString;
              },
              EvalToHex});
}

}  // namespace cmk::kql::fn
