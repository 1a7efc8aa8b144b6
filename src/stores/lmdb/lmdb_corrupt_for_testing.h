// Damages an LMDB data file on disk, as an OS crash under sync=off may: for
// the tests of lmdb_check.h (the gtests and tools/cli_test.sh through
// cli_test_seed).
#ifndef SESSIONKIT_STORES_LMDB_LMDB_CORRUPT_FOR_TESTING_H_
#define SESSIONKIT_STORES_LMDB_LMDB_CORRUPT_FOR_TESTING_H_

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

namespace sessionkit::lmdb_internal {

// Overwrites with garbage every page of the data file `data_mdb` (past the
// two meta pages) that holds the bytes `needle`, e.g. a session id: the
// leaf page of the current tree that holds it, and older copies of it.
// Returns how many pages were overwritten, -1 on an I/O error.
inline int CorruptPagesContaining(const std::string& data_mdb,
                                  std::string_view needle) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int fd = open(data_mdb.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  std::vector<char> buf(page);
  std::vector<char> garbage(page);
  for (size_t i = 0; i < page; ++i) {
    garbage[i] = static_cast<char>(0xa5 ^ (i * 37));
  }
  int overwritten = 0;
  for (off_t pgno = 2;; ++pgno) {
    const off_t at = pgno * static_cast<off_t>(page);
    if (pread(fd, buf.data(), page, at) != static_cast<ssize_t>(page)) break;
    if (std::string_view(buf.data(), page).find(needle) ==
        std::string_view::npos) {
      continue;
    }
    if (pwrite(fd, garbage.data(), page, at) != static_cast<ssize_t>(page)) {
      close(fd);
      return -1;
    }
    ++overwritten;
  }
  close(fd);
  return overwritten;
}

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_CORRUPT_FOR_TESTING_H_
