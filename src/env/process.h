#pragma once
// Process set-up that has to happen before anything else runs.

namespace cmk::env {

// Backs the heap with transparent huge pages: re-executes this program (same pid, argv and
// descriptors) once with glibc's tunable glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES, since
// glibc reads its tunables only at start. The storage engine touches hundreds of MB of fresh
// heap while ingesting (memtables, decoded extents); with 4 KiB pages the page faults cost
// ~25% of ingestion's CPU here, with 2 MiB pages a fraction of that (docs/benchmarks.md).
// Does nothing when the tunable is already set, when CMKLOGS_HUGE_PAGES=0, when the kernel's
// transparent huge pages are "never", or under a sanitizer. Returns only if it did not
// re-execute (then the process goes on with normal pages). Call first thing in main, before
// threads exist.
void ReexecWithHugePageHeap(char** argv);

}  // namespace cmk::env
