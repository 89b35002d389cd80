#pragma once
// Process set-up that has to happen before anything else runs.

namespace cmk::env {

// Tunes glibc's malloc for a server that keeps hundreds of MB of heap busy (memtables, flush
// buffers): re-executes this program (same pid, argv and descriptors) once with GLIBC_TUNABLES
// extended by
//   glibc.malloc.trim_threshold=1GiB  freed memory kept for reuse rather than returned at once,
//   glibc.malloc.top_pad=64MiB        the heap grown in large steps,
//   glibc.malloc.mmap_threshold=32MiB blocks up to 32 MiB from the heap, not fresh mappings,
// since glibc reads its tunables only at start. Fresh pages are what ingestion paid most for on
// VMs: with the default trimming, page faults took ~25% of its CPU (docs/benchmarks.md). The
// heap is not put on transparent huge pages (glibc.malloc.hugetlb=1, the earlier setting): the
// kernel zeroed whole 2 MiB pages whenever an arena's memory came back, and ingestion cost ~1 s
// more server CPU per run, 30-50% at 1M rows (docs/benchmarks.md, "Heap settings"). Does nothing
// when GLIBC_TUNABLES already names any of these (or hugetlb), when CMKLOGS_HEAP_TUNING=0, or
// under a sanitizer. Returns only if it did not re-execute; in the re-executed process it puts
// GLIBC_TUNABLES back as it was (glibc has read it), so that child processes get the
// operator's environment. Call first thing in main, before threads.
// Memory: the server's heap stays at its high-water mark after a burst instead of shrinking.
void ReexecWithTunedHeap(char** argv);

}  // namespace cmk::env
