#pragma once
// Byte encodings used on the wire: base64 (standard, padded), base64url without padding (JWT,
// Key Vault), lower-case hex, GUID text form, percent-decoding.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cmk {

std::string Base64Encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);
// RFC 4648 §5 alphabet, no padding on output; padding tolerated on input.
std::string Base64UrlEncode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string HexEncode(std::span<const uint8_t> bytes);

// RFC 4122 version-4 GUID text (lower case, 8-4-4-4-12) from 16 random bytes.
std::string FormatGuidV4(std::array<uint8_t, 16> bytes);
// True for 8-4-4-4-12 hex (any case).
bool IsGuid(std::string_view s);

// Decodes %XX escapes; with `plus_as_space` (form bodies) '+' becomes ' '.
Result<std::string> PercentDecode(std::string_view s, bool plus_as_space);
std::string PercentEncode(std::string_view s);

// Text safe to put on one log line: control characters, DEL, backslash and bytes >= 0x80 become
// \xNN (so a "%0a" in a request path cannot forge a second log line), cut at `max` bytes of
// input with "..." appended.
std::string EscapeForLog(std::string_view s, size_t max = 2048);

// Non-empty segments of a '/'-separated path: "/a//b/" -> {"a", "b"}.
std::vector<std::string> SplitPath(std::string_view path);

std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);

}  // namespace cmk
