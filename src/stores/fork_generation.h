// Which process after fork() this is, for every store that keeps handles
// (LMDB environments, Redis sockets) across requests.
#ifndef SESSIONKIT_STORES_FORK_GENERATION_H_
#define SESSIONKIT_STORES_FORK_GENERATION_H_

#include <cstdint>

namespace sessionkit {

// The number of fork()s from the first process that called this to the
// calling one: 0 there, one more in each child. A handle made under another
// generation belongs to an ancestor process (PHP-FPM forks its workers from
// a master that may have opened stores) and must be neither used nor closed
// here. The first call registers the fork handler, so a store calls it
// before it makes its first handle.
//
// Thread safety: safe from any thread.
uint64_t ForkGeneration();

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_FORK_GENERATION_H_
