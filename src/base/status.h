#pragma once
// Status / Result<T>: expected failures, absl-shaped. A Status carries a canonical code (which
// maps to an HTTP status at the edge), a message for humans, and optionally the Azure error code
// (`AuthorizationFailed`, `KeyNotFound`, ...) and an inner code (Key Vault `innererror.code`).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cmk {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
  kPayloadTooLarge,  // HTTP 413; not in absl, but it is an expected, distinct failure here.
  kConflict,         // HTTP 409 where ARM/Key Vault answer Conflict (absl folds it into kAborted).
};

std::string_view StatusCodeName(StatusCode code);
// The HTTP status a canonical code maps to.
int HttpStatusFor(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string error_code = {},
         std::string inner_code = {})
      : code_(code),
        message_(std::move(message)),
        error_code_(std::move(error_code)),
        inner_code_(std::move(inner_code)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Azure error code; falls back to a name derived from the canonical code.
  std::string error_code() const;
  const std::string& inner_code() const { return inner_code_; }
  int http_status() const { return HttpStatusFor(code_); }
  std::string ToString() const;

  // Ignore a status on purpose (documents intent at the call site).
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string error_code_;
  std::string inner_code_;
};

inline Status OkStatus() { return Status(); }
Status InvalidArgument(std::string message, std::string error_code = {});
Status NotFound(std::string message, std::string error_code = {});
Status AlreadyExists(std::string message, std::string error_code = {});
Status PermissionDenied(std::string message, std::string error_code = {});
Status Unauthenticated(std::string message, std::string error_code = {});
Status FailedPrecondition(std::string message, std::string error_code = {});
Status Internal(std::string message);
Status Unavailable(std::string message, std::string error_code = {});
Status DataLoss(std::string message);
Status Conflict(std::string message, std::string error_code = {});

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "OK status in Result");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  void IgnoreError() const {}

 private:
  std::variant<Status, T> v_;
};

namespace internal {
inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
const Status& GetStatus(const Result<T>& r) { return r.status(); }
}  // namespace internal

}  // namespace cmk

#define CMK_CONCAT_INNER(a, b) a##b
#define CMK_CONCAT(a, b) CMK_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                        \
  do {                                                               \
    auto&& cmk_status_ = (expr);                                     \
    if (!cmk_status_.ok()) return ::cmk::internal::GetStatus(cmk_status_); \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CMK_CONCAT(cmk_result_, __LINE__), lhs, expr)
