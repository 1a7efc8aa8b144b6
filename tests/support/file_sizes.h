// A file's size and the bytes the filesystem allocated to it, for tests of
// what is reserved on disk (a map written through must have its blocks:
// a store into a hole of a full disk is a SIGBUS, not an error).
#ifndef SESSIONKIT_TESTS_SUPPORT_FILE_SIZES_H_
#define SESSIONKIT_TESTS_SUPPORT_FILE_SIZES_H_

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sessionkit::test {

struct FileSizes {
  uint64_t size = 0;       // st_size: how long the file says it is
  uint64_t allocated = 0;  // st_blocks * 512: what the disk holds for it
};

// The sizes of `path`, or nullopt when it cannot be stat'ed.
inline std::optional<FileSizes> SizesOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  // st_blocks counts 512-byte units whatever the filesystem's block size.
  return FileSizes{static_cast<uint64_t>(st.st_size),
                   static_cast<uint64_t>(st.st_blocks) * 512};
}

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_FILE_SIZES_H_
