// Compile-time checks that the C ABI's numbers (include/sessionkit/c_api.h)
// are the library's own: the C entry points convert between them with a
// cast, so a value added on one side only fails the build here.
#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/status.h"

namespace sessionkit {

static_assert(static_cast<int>(StatusCode::kOk) == SK_OK);
static_assert(static_cast<int>(StatusCode::kNotFound) == SK_NOT_FOUND);
static_assert(static_cast<int>(StatusCode::kUnavailable) == SK_UNAVAILABLE);
static_assert(static_cast<int>(StatusCode::kLockLost) == SK_LOCK_LOST);
static_assert(static_cast<int>(StatusCode::kCorrupt) == SK_CORRUPT);
static_assert(static_cast<int>(StatusCode::kInvalidArgument) ==
              SK_INVALID_ARGUMENT);
static_assert(static_cast<int>(StatusCode::kNotSupported) == SK_NOT_SUPPORTED);
static_assert(static_cast<int>(StatusCode::kResourceExhausted) ==
              SK_RESOURCE_EXHAUSTED);
static_assert(static_cast<int>(StatusCode::kInternal) == SK_INTERNAL);
static_assert(static_cast<int>(StatusCode::kDeadlineExceeded) ==
              SK_DEADLINE_EXCEEDED);
static_assert(static_cast<int>(LockState::kNone) == SK_LOCK_NONE);
static_assert(static_cast<int>(LockState::kHeld) == SK_LOCK_HELD);
static_assert(static_cast<int>(LockState::kReadOnly) == SK_LOCK_READONLY);
static_assert(static_cast<int>(FrameCodec::kNone) == SK_CODEC_NONE);
static_assert(static_cast<int>(FrameCodec::kZstd) == SK_CODEC_ZSTD);
static_assert(static_cast<int>(FrameCodec::kLz4) == SK_CODEC_LZ4);
static_assert(static_cast<int>(FrameCodec::kSnappy) == SK_CODEC_SNAPPY);
static_assert(static_cast<int>(FrameCodec::kZlib) == SK_CODEC_ZLIB);
static_assert(kMaxFrameCodec == SK_CODEC_ZLIB);
static_assert(kDefaultCompressionThreshold == SK_COMPRESSION_DEFAULT_THRESHOLD);
static_assert(kDefaultRegenerateGrace ==
              Duration(SK_REGENERATE_GRACE_DEFAULT_S * 1000));
static_assert(static_cast<int>(LogLevel::kDebug) == SK_LOG_DEBUG);
static_assert(static_cast<int>(LogLevel::kNotice) == SK_LOG_NOTICE);
static_assert(static_cast<int>(LogLevel::kWarning) == SK_LOG_WARNING);

}  // namespace sessionkit
