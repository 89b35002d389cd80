#include "base/system_memory.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace cmk {
namespace {

// The whole of a small system file; empty when it can't be read.
std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str().substr(0, 4096);
}

}  // namespace

size_t EffectiveMemoryLimit(size_t physical, const std::vector<std::string>& limits) {
  size_t limit = physical;
  for (const std::string& text : limits) {
    std::string_view t(text);
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
    unsigned long long v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v == 0) continue;  // "max", junk
    if (v < limit) limit = static_cast<size_t>(v);
  }
  return limit;
}

size_t ProcessMemoryLimit() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  size_t physical = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page)
                                          : size_t{4} << 30;  // unknown: assume a small machine
  std::vector<std::string> limits;
  // The limit file of the cgroup at `path` under `root` and of each of its ancestors (theirs
  // bound it as well).
  auto walk = [&](const std::string& root, std::string path, const char* file) {
    if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos) return;
    for (;;) {
      limits.push_back(ReadSmallFile(root + (path == "/" ? std::string() : path) + "/" + file));
      if (path == "/") return;
      size_t slash = path.rfind('/');
      path = slash == 0 ? "/" : path.substr(0, slash);
    }
  };
  // /proc/self/cgroup: "0::/path" (v2), "N:controller,...:/path" (v1, the memory controller's).
  std::istringstream lines(ReadSmallFile("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",", path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers == ",,") {
      walk("/sys/fs/cgroup", path, "memory.max");
    } else if (controllers.find(",memory,") != std::string::npos) {
      walk("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
    }
  }
  return EffectiveMemoryLimit(physical, limits);
}

}  // namespace cmk
