// Fuzzes the JSON helpers and the text formats clients send (times, durations, intervals,
// percent-encoding, base64url).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto obj = cmk::json::ParseObject(text);
  if (obj.ok()) {
    for (const char* k : {"location", "LOCATION", "properties", "tags", "sku"}) {
      (void)cmk::json::GetString(*obj, k);
      (void)cmk::json::GetInt(*obj, k);
      (void)cmk::json::GetBool(*obj, k);
      (void)cmk::json::GetObject(*obj, k);
    }
    (void)cmk::json::Serialize(*obj);
  }
  (void)cmk::ParseRfc3339(text);
  (void)cmk::ParseIsoDuration(text);
  (void)cmk::ParseIsoInterval(text, cmk::FromUnixSeconds(1795416367));
  (void)cmk::PercentDecode(text, true);
  (void)cmk::Base64UrlDecode(text);
  return 0;
}
