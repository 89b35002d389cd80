#pragma once
// Recycled string vectors for decoding plain string blocks (one thread's pool).
//
// A plain string block (kStrings: log messages, ids) decodes into one std::string per row, and
// a string longer than 15 bytes is a heap allocation: when such a column is scanned and not
// kept in the decoded cache, allocating and freeing every row's string was half the scan's CPU
// (docs/benchmarks.md, `contains` at 100M rows). A decoded table released without a wipe hands
// its plain string vectors back to the releasing thread's pool; the next block decoded on that
// thread assigns into the pooled strings, whose buffers are kept (no allocation once a slot's
// capacity fits). The pool is bounded (kPooledVectors vectors of at most kPooledBytes each), so
// a thread keeps at most a few row groups' worth of buffers.
//
// Pooled buffers hold whatever the released table held, as freed heap memory does; a table
// released after a revocation is wiped and never pooled (mem_chunk.cc).
// Thread safety: each thread has its own pool.
#include <cstddef>
#include <string>
#include <vector>

namespace cmk::engine {

inline constexpr size_t kPooledVectors = 2;
inline constexpr size_t kPooledBytes = size_t{32} << 20;

// A vector of `rows` strings: pooled ones (their values stale, their buffers kept) when the pool
// has one, else fresh empty strings. The caller overwrites every element.
std::vector<std::string> TakeStrings(size_t rows);
// Gives `v`'s strings back to this thread's pool (or frees them when it is full, `v` is small,
// or its strings' buffers exceed kPooledBytes).
void GiveStrings(std::vector<std::string>&& v);
// Vectors in this thread's pool (tests).
size_t PooledStringVectorsForTest();

}  // namespace cmk::engine
