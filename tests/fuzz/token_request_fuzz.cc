// Fuzzes the token endpoint's request parsing: the form body and the Basic Authorization header
// (issue 11: a bad %-escape in Basic credentials aborted the server). The input's first line is
// the Authorization header, the rest the form body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/token_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view auth = nl == std::string_view::npos ? std::string_view() : in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? in : in.substr(nl + 1);
  auto r = cmk::server::ParseTokenRequest(body, auth);
  if (r.ok() && (r->client_id.empty() || r->client_secret.empty() || r->resource.empty())) {
    __builtin_trap();  // a parsed request always names a client, a secret and a resource
  }
  return 0;
}
