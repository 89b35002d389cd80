#include "env/process.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cmk::env {
namespace {

constexpr char kMarker[] = "CMKLOGS_HEAP_TUNED";
constexpr char kTunables[] =
    "glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864:glibc.malloc.mmap_threshold=33554432";

bool Sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

}  // namespace

void ReexecWithTunedHeap(char** argv) {
  // The re-executed process: glibc has read the tunables; children (softhsm2-util, ...) get the
  // environment as it was.
  if (const char* marker = std::getenv(kMarker); marker != nullptr) {
    std::string original = marker;  // "" when GLIBC_TUNABLES was unset, else "=" + its value
    if (original.empty()) ::unsetenv("GLIBC_TUNABLES");
    else ::setenv("GLIBC_TUNABLES", original.c_str() + 1, 1);
    ::unsetenv(kMarker);
    return;
  }
  if (Sanitized()) return;
  const char* opt = std::getenv("CMKLOGS_HEAP_TUNING");
  if (opt != nullptr && std::string(opt) == "0") return;
  const char* current = std::getenv("GLIBC_TUNABLES");
  std::string tunables = current != nullptr ? current : "";
  for (const char* name : {"glibc.malloc.hugetlb", "glibc.malloc.trim_threshold", "glibc.malloc.top_pad",
                           "glibc.malloc.mmap_threshold"}) {
    if (tunables.find(name) != std::string::npos) return;  // the operator chose: leave it
  }
  tunables += (tunables.empty() ? "" : ":") + std::string(kTunables);
  std::string marker = current != nullptr ? "=" + std::string(current) : "";
  if (::setenv(kMarker, marker.c_str(), 1) != 0) return;
  if (::setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) {
    ::unsetenv(kMarker);
    return;
  }
  ::execv("/proc/self/exe", argv);
  ::unsetenv(kMarker);
  // exec failed (no /proc, say): carry on with normal pages, and don't claim the tunable.
  if (current != nullptr) ::setenv("GLIBC_TUNABLES", current, 1);
  else ::unsetenv("GLIBC_TUNABLES");
}

}  // namespace cmk::env
