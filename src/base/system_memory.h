#pragma once
// How much memory the process may use: the machine's physical memory, or the memory limit of
// its control group (a container's or a systemd unit's) when that is lower. Sizes the defaults
// that should grow with the machine (the decoded block cache, app/instance.cc).
#include <cstddef>
#include <string>
#include <vector>

namespace cmk {

// `physical` bytes, or the lowest of `limits` when that is lower: each the text of a cgroup
// limit file (v2 memory.max, v1 memory.limit_in_bytes), "max" or a number of bytes; a text that
// is neither is ignored.
size_t EffectiveMemoryLimit(size_t physical, const std::vector<std::string>& limits);

// This process's: physical pages (sysconf), and the limits of the cgroups /proc/self/cgroup
// names and of their ancestors (v2 memory.max, v1 memory.limit_in_bytes of the memory
// controller's hierarchy).
size_t ProcessMemoryLimit();

}  // namespace cmk
