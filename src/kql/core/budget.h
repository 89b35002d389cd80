#pragma once
// Query governance: the memory and time a KQL query may use (kql::ExecOptions sets the limits).
//
// A QueryBudget belongs to one query (the executor's ExecContext carries it) and counts the
// bytes its operators hold: join build sides, summarize groups and aggregate state, sort and top
// buffers, make-series bins, mv-expand output, range rows, materialized tables. Accounting is
// approximate (the bytes of column buffers and keys, not allocator overhead) and is checked per
// chunk or per ~64K rows, never per value. A MemoryPool optionally bounds the sum over every
// running query of a server; each query's charges are also reserved in the pool.
//
// Errors (the first one is sticky: later checks return it again):
//   memory:   kResourceExhausted, error_code "E_RUNAWAY_QUERY" (query limit) or
//             "E_LOW_MEMORY_CONDITION" (server pool), message "Query execution has exceeded the
//             allowed limits (80DA0001): ..." naming the limit and the operator.
//   deadline: kDeadlineExceeded, "E_QUERY_TIMEOUT", "Query execution lacks time to complete
//             (E_QUERY_TIMEOUT): the query exceeded its time limit of N s".
//   cancel:   kCancelled, "E_QUERY_CANCELLED".
// Thread safety: MemoryPool is thread-safe. QueryBudget and MemoryReservation are used by the
// one thread running the query; only the `cancelled` flag they read is written by others.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "kql/core/chunk.h"
#include "kql/core/column.h"

namespace cmk::kql {

// Server-wide memory shared by concurrent queries (e.g. a fraction of the machine's RAM).
class MemoryPool {
 public:
  explicit MemoryPool(size_t limit_bytes) : limit_(limit_bytes) {}
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // Reserves `bytes` unless that would exceed the limit; false then (nothing reserved).
  bool TryReserve(size_t bytes);
  void Release(size_t bytes);
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t limit() const { return limit_; }

  // Called with the bytes reserved in all after each reservation and release, on the thread
  // that made it: the server's decoded block cache gives way to queries' memory through it
  // (engine::LogStore::YieldCache). Set before the pool is used; it must be cheap and not
  // reserve from this pool.
  void SetObserver(std::function<void(size_t used)> observer) { observer_ = std::move(observer); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::function<void(size_t)> observer_;
};

struct BudgetLimits {
  size_t memory_limit_bytes = 0;                 // 0 = unlimited
  MemoryPool* pool = nullptr;                    // optional, shared
  int64_t deadline_us = 0;                       // env::MonotonicMicros() value; 0 = none
  const std::atomic<bool>* cancelled = nullptr;  // optional
};

class QueryBudget {
 public:
  explicit QueryBudget(const BudgetLimits& limits);
  ~QueryBudget();  // returns what is still reserved to the pool
  QueryBudget(const QueryBudget&) = delete;
  QueryBudget& operator=(const QueryBudget&) = delete;

  // Adds `bytes` held by `what` (an operator name for the message); fails when the query's or
  // the pool's limit would be exceeded (nothing is charged then).
  Status Charge(size_t bytes, std::string_view what);
  void Release(size_t bytes);
  // Deadline and cancellation (one clock read).
  Status Check();
  // True every 65,536th call: per-row and per-comparison loops then run Check():
  // `if (b.Due()) RETURN_IF_ERROR(b.Check());`. The fast path builds no Status (a Status per
  // comparison made `top` 3.5x slower).
  bool Due() { return (++ticks_ & 0xFFFF) == 0; }
  Status Tick() { return Due() ? Check() : OkStatus(); }

  size_t used() const { return used_; }
  size_t peak() const { return peak_; }
  size_t limit() const { return limits_.memory_limit_bytes; }
  // Bytes left before the query limit (SIZE_MAX when unlimited).
  size_t remaining() const;

 private:
  BudgetLimits limits_;
  int64_t start_us_ = 0;
  size_t used_ = 0, peak_ = 0;
  uint64_t ticks_ = 0;
  Status error_;
};

// Bytes held by one operator's state, charged to a budget (which may be null: no accounting)
// and released when the reservation is destroyed.
class MemoryReservation {
 public:
  MemoryReservation(QueryBudget* budget, std::string what) : budget_(budget), what_(std::move(what)) {}
  ~MemoryReservation() { Resize(0).IgnoreError(); }
  MemoryReservation(const MemoryReservation&) = delete;
  MemoryReservation& operator=(const MemoryReservation&) = delete;

  Status Grow(size_t bytes) { return Resize(bytes_ + bytes); }
  // Charges or releases the difference to `total`.
  Status Resize(size_t total);
  size_t bytes() const { return bytes_; }

 private:
  QueryBudget* budget_;
  std::string what_;
  size_t bytes_ = 0;
};

// Approximate bytes held by a column or table: the value buffers, each string's characters
// plus its std::string header, and the null mask. O(rows) for strings; call per chunk.
size_t ApproxBytes(const Column& c);
size_t ApproxBytes(const Table& t);
size_t ApproxBytes(const Chunk& c);

}  // namespace cmk::kql
