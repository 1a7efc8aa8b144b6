// Error values used across sessionkit. No exception crosses a layer boundary:
// every fallible call returns a Status or a Result<T>.
#ifndef SESSIONKIT_STATUS_H_
#define SESSIONKIT_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sessionkit {

// What went wrong, in the categories a caller acts on differently.
enum class StatusCode {
  kOk = 0,
  // The session (or other named thing) does not exist or has expired.
  kNotFound,
  // The store cannot answer now (down, timed out, refused): retry later or
  // fail over to another tier. Nothing was changed, or the change is unknown.
  kUnavailable,
  // The caller no longer owns the session lock: its write was refused.
  kLockLost,
  // Stored bytes could not be decoded (bad frame, bad codec payload).
  kCorrupt,
  // A bad argument or bad configuration: a malformed URL, an invalid session
  // id, an unknown setting. Retrying the same call cannot succeed.
  kInvalidArgument,
  // The store or build does not implement the operation.
  kNotSupported,
  // A size limit was hit (e.g. the LMDB map is full).
  kResourceExhausted,
  // A bug or an unexpected condition inside sessionkit.
  kInternal,
  // A bounded wait ran out, e.g. for a session lock another request holds.
  kDeadlineExceeded,
};

// Returns a short lower-case name for `code`, e.g. "not found".
std::string_view StatusCodeName(StatusCode code);

// Status is the outcome of an operation: OK, or a code and a message that
// names what was wrong (which store, which setting, which session id prefix).
//
// Thread safety: a Status is a value; distinct objects may be used from
// distinct threads, const methods may be called concurrently.
class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) {
    return Status(StatusCode::kNotFound, std::move(msg));
  }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg));
  }
  static Status LockLost(std::string msg) {
    return Status(StatusCode::kLockLost, std::move(msg));
  }
  static Status Corrupt(std::string msg) {
    return Status(StatusCode::kCorrupt, std::move(msg));
  }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(StatusCode::kNotSupported, std::move(msg));
  }
  static Status ResourceExhausted(std::string msg) {
    return Status(StatusCode::kResourceExhausted, std::move(msg));
  }
  static Status Internal(std::string msg) {
    return Status(StatusCode::kInternal, std::move(msg));
  }
  static Status DeadlineExceeded(std::string msg) {
    return Status(StatusCode::kDeadlineExceeded, std::move(msg));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsUnavailable() const { return code_ == StatusCode::kUnavailable; }
  bool IsLockLost() const { return code_ == StatusCode::kLockLost; }
  bool IsCorrupt() const { return code_ == StatusCode::kCorrupt; }
  bool IsInvalidArgument() const {
    return code_ == StatusCode::kInvalidArgument;
  }
  bool IsNotSupported() const { return code_ == StatusCode::kNotSupported; }
  bool IsResourceExhausted() const {
    return code_ == StatusCode::kResourceExhausted;
  }
  bool IsDeadlineExceeded() const {
    return code_ == StatusCode::kDeadlineExceeded;
  }

  // Returns "OK" or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds either a value of type T or a non-OK Status.
//
// Thread safety: as for Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit, so that `return value;` and `return status;` both work.
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status without a value");
    if (status_.ok()) status_ = Status::Internal("Result without a value");
  }

  bool ok() const { return value_.has_value(); }
  // OK when a value is held, the error otherwise.
  const Status& status() const { return status_; }

  // Requires ok().
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The value when ok(), `fallback` otherwise.
  T value_or(T fallback) const& { return ok() ? *value_ : fallback; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace sessionkit

// Returns early from the enclosing function with the error of `expr` (a
// Status) when it is not OK.
#define SK_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::sessionkit::Status sk_status_ = (expr);         \
    if (!sk_status_.ok()) return sk_status_;          \
  } while (0)

#endif  // SESSIONKIT_STATUS_H_
