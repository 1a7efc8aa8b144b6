// Keeps an LMDB directory to the processes of one pid namespace at a time.
//
// LMDB's reader table names readers by pid, and checks whether a reader is
// alive by its pid: processes of two pid namespaces (two containers sharing
// one directory) have the same pids, so their reader slots collide (EAGAIN
// on open, a live reader's slot freed as stale, pages it still reads
// reused). Such sharing is refused instead.
//
// <dir>/pid-namespace records, as text, the pid namespace (the inode of
// /proc/self/ns/pid) of the processes using the directory. Every process
// holds, for as long as its environment is open, a shared OFD lock on byte 1
// of that file; byte 0 is a short exclusive lock around each check. An
// opener of the recorded namespace joins; an opener of another namespace
// takes the directory over when nobody holds byte 1 (the kernel drops the
// locks of processes that exit, also when killed), and is refused while
// somebody does.
#ifndef SESSIONKIT_STORES_LMDB_PID_NAMESPACE_GUARD_H_
#define SESSIONKIT_STORES_LMDB_PID_NAMESPACE_GUARD_H_

#include <cstdint>
#include <string>

namespace sessionkit::lmdb_internal {

inline constexpr char kPidNamespaceFile[] = "pid-namespace";

// The pid namespace of this process (inode of /proc/self/ns/pid), or 0 when
// it cannot be known (no /proc): then no guard is taken.
uint64_t CurrentPidNamespace();

// Makes CurrentPidNamespace return `ns` in this process (0: the real one
// again). For tests only.
void SetPidNamespaceForTesting(uint64_t ns);

// One process's hold on <dir>/pid-namespace.
//
// Thread safety: a value owned by one environment handle; Acquire and
// Release are called under the store's open mutex. Fork: the descriptor is
// inherited and keeps the shared lock while any copy is open (the child is
// of the same namespace as its parent when it forks).
class PidNamespaceGuard {
 public:
  PidNamespaceGuard() = default;
  PidNamespaceGuard(const PidNamespaceGuard&) = delete;
  PidNamespaceGuard& operator=(const PidNamespaceGuard&) = delete;
  ~PidNamespaceGuard() = default;  // never releases: see Release

  // Joins or takes over `dir` for this process's pid namespace, creating the
  // file with `mode` (less the umask). 0 when held (or the namespace is
  // unknown); EBUSY when processes of another pid namespace use the
  // directory (*other names it); another errno when the file cannot be
  // used.
  int Acquire(const std::string& dir, unsigned mode, uint64_t* other);
  // Drops the hold (closes the descriptor). Only by the process that
  // acquired it, when it closes the environment.
  void Release();

 private:
  int fd_ = -1;
};

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_PID_NAMESPACE_GUARD_H_
