#include "kql/core/budget.h"

#include <limits>

#include "env/env.h"

namespace cmk::kql {

bool MemoryPool::TryReserve(size_t bytes) {
  size_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || cur > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
  if (observer_) observer_(cur + bytes);
  return true;
}

void MemoryPool::Release(size_t bytes) {
  size_t left = used_.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
  if (observer_) observer_(left);
}

QueryBudget::QueryBudget(const BudgetLimits& limits) : limits_(limits) {
  if (limits_.deadline_us != 0) start_us_ = env::MonotonicMicros();
}

QueryBudget::~QueryBudget() {
  if (limits_.pool != nullptr && used_ > 0) limits_.pool->Release(used_);
}

namespace {

std::string Mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Status QueryBudget::Charge(size_t bytes, std::string_view what) {
  if (!error_.ok()) return error_;
  size_t limit = limits_.memory_limit_bytes;
  if (limit != 0 && (bytes > limit || used_ > limit - bytes)) {
    error_ = Status(StatusCode::kResourceExhausted,
                    "Query execution has exceeded the allowed limits (80DA0001): the query needs more than its "
                    "memory limit of " + std::to_string(limit) + " bytes (" + Mib(limit) + ") in " +
                        std::string(what) + "; filter or summarize earlier, or project fewer columns",
                    "E_RUNAWAY_QUERY");
    return error_;
  }
  if (limits_.pool != nullptr && !limits_.pool->TryReserve(bytes)) {
    error_ = Status(StatusCode::kResourceExhausted,
                    "Query execution has exceeded the allowed limits (80DA0001): the server's memory for "
                    "running queries (" + Mib(limits_.pool->limit()) + ") is exhausted in " +
                        std::string(what) + "; retry later",
                    "E_LOW_MEMORY_CONDITION");
    return error_;
  }
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return OkStatus();
}

void QueryBudget::Release(size_t bytes) {
  bytes = std::min(bytes, used_);
  used_ -= bytes;
  if (limits_.pool != nullptr) limits_.pool->Release(bytes);
}

Status QueryBudget::Check() {
  if (!error_.ok()) return error_;
  if (limits_.cancelled != nullptr && limits_.cancelled->load(std::memory_order_relaxed)) {
    error_ = Status(StatusCode::kCancelled, "Query was cancelled (E_QUERY_CANCELLED)", "E_QUERY_CANCELLED");
    return error_;
  }
  if (limits_.deadline_us != 0 && env::MonotonicMicros() >= limits_.deadline_us) {
    int64_t limit_s = std::max<int64_t>(0, limits_.deadline_us - start_us_) / 1'000'000;
    error_ = Status(StatusCode::kDeadlineExceeded,
                    "Query execution lacks time to complete (E_QUERY_TIMEOUT): the query exceeded its time "
                    "limit of " + std::to_string(limit_s) + " s",
                    "E_QUERY_TIMEOUT");
    return error_;
  }
  return OkStatus();
}

size_t QueryBudget::remaining() const {
  if (limits_.memory_limit_bytes == 0) return std::numeric_limits<size_t>::max();
  return limits_.memory_limit_bytes > used_ ? limits_.memory_limit_bytes - used_ : 0;
}

Status MemoryReservation::Resize(size_t total) {
  if (budget_ == nullptr) return OkStatus();
  if (total > bytes_) {
    RETURN_IF_ERROR(budget_->Charge(total - bytes_, what_));
  } else {
    budget_->Release(bytes_ - total);
  }
  bytes_ = total;
  return OkStatus();
}

size_t ApproxBytes(const Column& c) {
  size_t n = c.ints.size() * sizeof(int64_t) + c.reals.size() * sizeof(double) + c.nulls.size();
  n += c.strings.size() * sizeof(std::string) + c.codes.size() * sizeof(Code);
  // A packed column's buffers as allocated: one built value by value may hold up to twice its text.
  if (c.packed()) n += c.chars.capacity() + c.offsets.capacity() * sizeof(uint32_t);
  auto text = [&](const std::vector<std::string>& strings) {
    for (const std::string& s : strings) {
      if (s.size() > 15) n += s.size() + 1;  // shorter strings live in the header (SSO)
    }
  };
  text(c.strings);
  // A coded column's dictionary is shared, but charged to each holder: an upper bound.
  if (c.dict) {
    n += c.dict->size() * sizeof(std::string);
    text(*c.dict);
  }
  return n;
}

size_t ApproxBytes(const Chunk& c) {
  size_t n = 0;
  for (size_t i = 0; i < c.width(); ++i) n += ApproxBytes(c.col(i));
  return n;
}

size_t ApproxBytes(const Table& t) {
  size_t n = 0;
  for (const Column& c : t.columns) n += ApproxBytes(c);
  return n;
}

}  // namespace cmk::kql
