// The C ABI when memory runs out: every entry point returns SK_INTERNAL
// instead of ending the process, and a read that took a lock but cannot hand
// it back releases it. A binary of its own: it replaces the global operator
// new (and, outside ASan, malloc) with versions that fail on command.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>

#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"

#if !defined(__SANITIZE_ADDRESS__)
extern "C" void* __libc_malloc(size_t size);  // glibc's own malloc
#endif

namespace {

std::atomic<bool> fail_new{false};
// A malloc of exactly this many bytes fails (0: none). Under ASan, whose
// allocator must see every malloc, malloc is left alone.
std::atomic<size_t> fail_malloc_size{0};

void* Allocate(size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  return std::malloc(size == 0 ? 1 : size);
#else
  return __libc_malloc(size == 0 ? 1 : size);
#endif
}

void* New(size_t size) {
  if (fail_new.load()) throw std::bad_alloc();
  void* p = Allocate(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

#if !defined(__SANITIZE_ADDRESS__)
extern "C" void* malloc(size_t size) {
  if (size != 0 && size == fail_malloc_size.load()) return nullptr;
  return __libc_malloc(size);
}
#endif

void* operator new(size_t size) { return New(size); }
void* operator new[](size_t size) { return New(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace sessionkit::test {
namespace {

// Every entry point builds its body without allocating before its own try:
// with every operator new failing, sk_destroy_user (whose body captures five
// arguments, too many for std::function to keep without allocating) and
// sk_set_user return SK_INTERNAL, and the process lives on.
TEST_F(CApiTest, EntryPointsReportRunningOutOfMemory) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  fail_new = true;
  const sk_code destroyed =
      sk_destroy_user(e, "alice", 5, kId.data(), kId.size(), r.get());
  fail_new = false;
  EXPECT_EQ(destroyed, SK_INTERNAL);

  fail_new = true;
  const sk_code set =
      sk_set_user(e, kId.data(), kId.size(), "alice", 5, 60000, r.reset());
  fail_new = false;
  EXPECT_EQ(set, SK_INTERNAL);

  // Memory back: the same engine works.
  EXPECT_EQ(sk_destroy_user(e, "alice", 5, nullptr, 0, r.reset()), SK_OK)
      << r.message();
  sk_engine_release(e);
}

// A locked read whose data cannot be copied out fails, and the lock it took
// is released: the next request gets the session at once instead of waiting
// out the lease (30 s here) for a lock nobody holds.
TEST_F(CApiTest, ALockedReadThatRunsOutOfMemoryReleasesItsLock) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "malloc is ASan's own here";
#else
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  // A size no other allocation of the read has: the copy of the data into
  // the result is a malloc of its length plus one.
  const std::string payload(100003, 'x');
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), payload.data(), payload.size(),
                     60000, nullptr, r.get()),
            SK_OK)
      << r.message();

  const sk_lock_options opts = {1, 0, 30000, 0, SK_LOCK_TIMEOUT_FAIL};
  fail_malloc_size = payload.size() + 1;
  const sk_code failed = sk_read(e, kId.data(), kId.size(), &opts, r.reset());
  fail_malloc_size = 0;
  ASSERT_EQ(failed, SK_INTERNAL);

  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << r.message();
  EXPECT_EQ(r->lock_state, SK_LOCK_HELD);
  EXPECT_EQ(r.data(), payload);
  sk_engine_release(e);
#endif
}

}  // namespace
}  // namespace sessionkit::test
