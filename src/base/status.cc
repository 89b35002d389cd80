#include "base/status.h"

namespace cmk {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kPermissionDenied: return "Forbidden";
    case StatusCode::kResourceExhausted: return "TooManyRequests";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kAborted: return "Aborted";
    case StatusCode::kOutOfRange: return "OutOfRange";
    case StatusCode::kUnimplemented: return "NotImplemented";
    case StatusCode::kInternal: return "InternalServerError";
    case StatusCode::kUnavailable: return "ServiceUnavailable";
    case StatusCode::kDataLoss: return "DataLoss";
    case StatusCode::kUnauthenticated: return "Unauthorized";
    case StatusCode::kPayloadTooLarge: return "PayloadTooLarge";
    case StatusCode::kConflict: return "Conflict";
  }
  return "Unknown";
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kFailedPrecondition: return 400;
    case StatusCode::kAborted: return 409;
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kInternal: return 500;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDataLoss: return 500;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPayloadTooLarge: return 413;
    case StatusCode::kConflict: return 409;
  }
  return 500;
}

std::string Status::error_code() const {
  if (!error_code_.empty()) return error_code_;
  return std::string(StatusCodeName(code_));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return error_code() + ": " + message_;
}

Status InvalidArgument(std::string m, std::string c) {
  return Status(StatusCode::kInvalidArgument, std::move(m), std::move(c));
}
Status NotFound(std::string m, std::string c) {
  return Status(StatusCode::kNotFound, std::move(m), std::move(c));
}
Status AlreadyExists(std::string m, std::string c) {
  return Status(StatusCode::kAlreadyExists, std::move(m), std::move(c));
}
Status PermissionDenied(std::string m, std::string c) {
  return Status(StatusCode::kPermissionDenied, std::move(m), std::move(c));
}
Status Unauthenticated(std::string m, std::string c) {
  return Status(StatusCode::kUnauthenticated, std::move(m), std::move(c));
}
Status FailedPrecondition(std::string m, std::string c) {
  return Status(StatusCode::kFailedPrecondition, std::move(m), std::move(c));
}
Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
Status Unavailable(std::string m, std::string c) {
  return Status(StatusCode::kUnavailable, std::move(m), std::move(c));
}
Status DataLoss(std::string m) { return Status(StatusCode::kDataLoss, std::move(m)); }
Status Conflict(std::string m, std::string c) {
  return Status(StatusCode::kConflict, std::move(m), std::move(c));
}

}  // namespace cmk
