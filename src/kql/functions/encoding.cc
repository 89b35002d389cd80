// Encoding functions: base64_encode_tostring, base64_decode_tostring, base64_decode_toarray,
// base64_encode_fromarray, base64_encode_fromguid, base64_decode_toguid (standard alphabet,
// padded; base/encoding.h), tohex, and gzip_/zlib_compress_to_base64_string and their
// _decompress_from_base64_string (zlib). Text that does not decode gives null, as documented
// (base64_decode_tostring also when the bytes are not UTF-8); the decompressors give "".
#include "base/encoding.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

#include "kql/core/budget.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

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

Result<Column> EvalEncode(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    out.strings[i] = Base64Encode(AsBytes(TextOf(*a[0], i, sc)));
  });
}

Result<Column> EvalDecodeToString(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    Result<std::vector<uint8_t>> b = Base64Decode(TextOf(*a[0], i, sc));
    if (b.ok() && IsUtf8(AsChars(*b))) out.strings[i] = std::string(AsChars(*b));
  });
}

Result<Column> EvalDecodeToArray(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
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
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
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
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
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
  return MapRows(a, ctx, Type::kGuid, [&](Column& out, size_t i) {
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
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (AnyNull(a, i)) return SetNull(out, i);
    int64_t v = a[0]->Int(i);
    uint64_t bits = a[0]->type == Type::kInt ? static_cast<uint32_t>(v) : static_cast<uint64_t>(v);
    int width = a.size() > 1 ? static_cast<int>(std::clamp<int64_t>(a[1]->Int(i), 0, 16)) : 0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(bits));
    out.strings[i] = buf;
  });
}

// Deflate at level 0 (stored blocks): the documented outputs are stored blocks
// (gzip_compress_to_base64_string("1234567890qwertyuiop") is "H4sIAAAAAAAA/wEUAOv/..."), so
// this is what reproduces them byte for byte. windowBits -15 is raw deflate, 15 the zlib wrapper.
std::string Deflate(std::string_view in, int window_bits) {
  z_stream z{};
  if (deflateInit2(&z, Z_NO_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return "";
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

// Inflates all of `in`; nullopt when it is not one complete stream or its output would pass
// `limit` bytes (a small base64 text can expand a thousandfold).
std::optional<std::string> Inflate(std::string_view in, int window_bits, size_t limit,
                                   bool* too_big) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      *too_big = true;
      rc = Z_MEM_ERROR;
    }
    if (rc == Z_OK && z.avail_out == sizeof buf && z.avail_in == 0) rc = Z_DATA_ERROR;  // cut short
  }
  bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  if (!whole) return std::nullopt;
  return out;
}

// gzip framing by hand: a header with no flags, mtime 0, XFL 0 and OS 255 (as documented), then
// CRC-32 and size, little-endian.
std::string GzipCompress(std::string_view in) {
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  out += Deflate(in, -15);
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(in.data()), static_cast<uInt>(in.size())));
  auto size = static_cast<uint32_t>(in.size());
  for (uint32_t v : {crc, size}) {
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
  return out;
}

// The docs' rules: ID1, ID2 and CM must be right and FLG zero (no optional fields).
std::optional<std::string> GzipDecompress(std::string_view in, size_t limit, bool* too_big) {
  if (in.size() < 18 || in.substr(0, 3) != std::string_view("\x1f\x8b\x08", 3) || in[3] != 0)
    return std::nullopt;
  std::optional<std::string> out = Inflate(in.substr(10, in.size() - 18), -15, limit, too_big);
  if (!out) return std::nullopt;
  uint32_t crc = 0, size = 0;
  for (int k = 3; k >= 0; --k) {
    crc = (crc << 8) | static_cast<unsigned char>(in[in.size() - 8 + static_cast<size_t>(k)]);
    size = (size << 8) | static_cast<unsigned char>(in[in.size() - 4 + static_cast<size_t>(k)]);
  }
  uint32_t actual = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(out->data()), static_cast<uInt>(out->size())));
  if (crc != actual || size != static_cast<uint32_t>(out->size())) return std::nullopt;
  return out;
}

Result<Column> EvalCompress(bool gzip, Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string_view text = TextOf(*a[0], i, sc);
    std::string packed = gzip ? GzipCompress(text) : Deflate(text, 15);
    out.strings[i] = Base64Encode(AsBytes(packed));
  });
}

// The output is checked while it is inflated against the query's memory budget and a 256 MiB
// cap per call (the budget may be unlimited).
Result<Column> EvalDecompress(bool gzip, Args a, const FunctionContext& ctx) {
  constexpr size_t kMaxOutput = size_t{256} << 20;
  std::string sc;
  size_t limit = std::min(ctx.budget != nullptr ? ctx.budget->remaining() : SIZE_MAX, kMaxOutput);
  size_t total = 0;
  bool too_big = false;
  ASSIGN_OR_RETURN(Column col, MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
                     if (too_big) return;
                     Result<std::vector<uint8_t>> b = Base64Decode(TextOf(*a[0], i, sc));
                     if (!b.ok()) return;
                     std::string_view packed = AsChars(*b);
                     std::optional<std::string> text =
                         gzip ? GzipDecompress(packed, limit - total, &too_big)
                              : Inflate(packed, 15, limit - total, &too_big);
                     if (!text || !IsUtf8(*text)) return;
                     total += text->size();
                     out.strings[i] = std::move(*text);
                   }));
  if (too_big) {
    if (ctx.budget != nullptr && limit < kMaxOutput) {
      RETURN_IF_ERROR(
          ctx.budget->Charge(limit + 1, "decompressed text"));  // fails, naming the limit
    }
    return Status(StatusCode::kResourceExhausted,
                  "Query execution has exceeded the allowed limits (80DA0001): decompressed text "
                  "over 256 MiB",
                  "E_RUNAWAY_QUERY");
  }
  return col;
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
  for (bool gzip : {true, false}) {
    r.Function({gzip ? "gzip_compress_to_base64_string" : "zlib_compress_to_base64_string", 1, 1,
                Returns(Type::kString),
                [gzip](Args a, const FunctionContext& c) { return EvalCompress(gzip, a, c); }});
    r.Function({gzip ? "gzip_decompress_from_base64_string" : "zlib_decompress_from_base64_string",
                1, 1, Returns(Type::kString),
                [gzip](Args a, const FunctionContext& c) { return EvalDecompress(gzip, a, c); }});
  }
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
