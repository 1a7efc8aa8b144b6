// Transactions of the LMDB store: the outcomes a transaction body returns
// besides LMDB codes, the guards that end a transaction or cursor, and
// LmdbStore::WithReadTxn and WithWriteTxn (member templates declared in
// lmdb_store.h), for every file of the store that runs transactions.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_TXN_H_
#define SESSIONKIT_STORES_LMDB_LMDB_TXN_H_

#include <lmdb.h>

#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "stores/lmdb/lmdb_env.h"
#include "stores/lmdb/lmdb_store.h"

namespace sessionkit::lmdb_internal {

// Outcomes of transaction bodies besides LMDB codes (which are -30800 to
// -30780) and errno values (positive).
// A value shorter than its expiry header.
inline constexpr int kRcCorrupt = -1;
// Nothing to commit: abort and succeed.
inline constexpr int kRcNoChange = -2;
// The caller does not hold the session lock.
inline constexpr int kRcLockLost = -3;

// Entries one write transaction of gc visits at most (index entries or lock
// records): keeps each of them short.
inline constexpr uint64_t kGcBatch = 1000;

// Aborts a transaction when a transaction body throws (std::bad_alloc):
// a leaked write transaction would hold the write lock of every process.
struct TxnGuard {
  MDB_txn* txn;
  ~TxnGuard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

// Closes a cursor of a write transaction when its scope ends (before the
// transaction ends, as LMDB requires).
struct CursorGuard {
  MDB_cursor* cursor;
  ~CursorGuard() { mdb_cursor_close(cursor); }
};

// --- LmdbStore::WithReadTxn and WithWriteTxn (see lmdb_store.h) -----------

template <typename Fn>
int LmdbStore::WithReadTxn(Env* e, Fn&& fn) {
  int reopens = 0;
  for (int attempt = 0;; ++attempt) {
    int rc = 0;
    bool replaced = false;  // data.mdb was replaced: reopen, then retry
    {
      std::shared_lock<std::shared_mutex> remap_lock(e->remap_mu);
      MDB_txn* txn = nullptr;
      if (e->env != nullptr) {
        std::lock_guard<std::mutex> lock(e->pool_mu);
        if (!e->pool.empty()) {
          txn = e->pool.back();
          e->pool.pop_back();
        }
      }
      const bool pooled = txn != nullptr;
      if (e->env == nullptr) {
        replaced = true;
      } else {
        rc = pooled ? mdb_txn_renew(txn)
                    : mdb_txn_begin(e->env, nullptr, MDB_RDONLY, &txn);
      }
      if (!replaced && (rc == 0 || (pooled && rc == MDB_MAP_RESIZED))) {
        // Either way `txn` is now reset and still owns its reader slot.
        int out = rc;
        if (rc == 0) {
          // After the begin: see lmdb_compact.h.
          replaced = DataFileReplaced(e);
          if (!replaced) {
            TxnGuard guard{txn};  // an exception must not leave it open
            out = fn(txn);
            guard.txn = nullptr;
          }
          mdb_txn_reset(txn);
        }
        bool keep;
        {
          std::lock_guard<std::mutex> lock(e->pool_mu);
          keep = e->pool.size() < kPoolCap;
          if (keep) e->pool.push_back(txn);
        }
        if (!keep) mdb_txn_abort(txn);
        if (rc == 0 && !replaced) return out;
      }
      if (!replaced && pooled && rc != MDB_MAP_RESIZED && attempt == 0) {
        // Any other failed renew (MDB_BAD_RSLOT: the slot was taken from
        // us) leaves a handle that must not free the slot: leak it and
        // start afresh.
        continue;
      }
    }
    if (replaced && reopens++ < kMaxReopens) {
      rc = Reopen(e);
      if (rc != 0) return rc;
      continue;
    }
    if (replaced) return EAGAIN;
    if (rc == MDB_MAP_RESIZED && attempt < kMaxRemaps) {
      rc = Remap(e);
      if (rc != 0) return rc;
      continue;
    }
    if (rc == MDB_READERS_FULL && attempt == 0) {
      ClearStaleReaders(e);
      continue;
    }
    return rc;
  }
}

template <typename Fn>
int LmdbStore::WithWriteTxn(Env* e, bool rescue, Fn&& fn) {
  const bool may_grow = rescue;  // a gc's transactions leave it to the gc
  int remaps = 0;
  int growths = 0;
  int reopens = 0;
  for (;;) {
    int rc = 0;
    bool replaced = false;  // data.mdb was replaced: reopen, then retry
    uint64_t last_page = 0;
    {
      std::shared_lock<std::shared_mutex> remap_lock(e->remap_mu);
      MDB_txn* txn = nullptr;
      if (e->env == nullptr) {
        replaced = true;
      } else {
        rc = mdb_txn_begin(e->env, nullptr, 0, &txn);
      }
      // Holding the write mutex: a compaction's swap is seen here, before
      // anything is written to the old file (lmdb_compact.h).
      if (rc == 0 && !replaced && DataFileReplaced(e)) {
        mdb_txn_abort(txn);
        replaced = true;
      }
      if (rc == 0 && !replaced) {
        {
          TxnGuard guard{txn};  // an exception must not keep the write lock
          rc = fn(txn);
          guard.txn = nullptr;
        }
        if (rc == 0) {
          rc = mdb_txn_commit(txn);  // frees txn, also on failure
        } else {
          mdb_txn_abort(txn);
          if (rc == kRcNoChange) return 0;
        }
        MDB_envinfo info;
        if (rc == 0 && mdb_env_info(e->env, &info) == 0) {
          last_page = info.me_last_pgno;
        }
      }
    }
    if (replaced && reopens++ < kMaxReopens) {
      rc = Reopen(e);
      if (rc != 0) return rc;
      continue;
    }
    if (replaced) return EAGAIN;
    if (rc == 0) {
      // Only a store near its limit counts its pages (rarely).
      if (last_page >= e->fill_warn_pages) NoteFill(e);
      return 0;
    }
    if (rc == MDB_MAP_RESIZED && remaps++ < kMaxRemaps) {
      rc = Remap(e);
      if (rc != 0) return rc;
      continue;
    }
    if (rc == MDB_MAP_FULL && rescue) {
      // Expired sessions first: their space costs no disk.
      rescue = false;
      RescueFullMap(e);
      continue;
    }
    if (rc == MDB_MAP_FULL && may_grow && growths++ < kMaxGrowths) {
      rc = Grow(e, /*gc_step=*/false);
      if (rc != 0) return rc;
      continue;
    }
    return rc;
  }
}

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_TXN_H_
