// A structure-aware mutator for store_url_fuzzer (compiled only into it).
//
// Byte mutations rarely make one valid store URL out of another: a new host
// needs a ',' in the host list and nowhere else, a new parameter a name the
// scheme knows after a '?' or '&'. These functions split a spec into its
// tiers and each URL into scheme, user info, host list, path and query
// parameters, apply one edit to one part (a host duplicated, dropped or
// altered; a parameter added, dropped, renamed or given another value; the
// scheme switched; a tier duplicated or dropped) and join the parts again.
// Parameter and scheme names come from the grammar's own tables
// (uri/schemes.h), every known name with the same chance. A quarter of the
// calls, and every input that is not a URL, get libFuzzer's byte mutations
// (LLVMFuzzerMutate) instead, so bugs of malformed input stay reachable.
#ifndef SESSIONKIT_URI_STORE_URL_MUTATOR_H_
#define SESSIONKIT_URI_STORE_URL_MUTATOR_H_

#include <cstddef>
#include <cstdint>

namespace sessionkit::uri::fuzz {

// LLVMFuzzerCustomMutator: edits the spec in data[0, size) in place
// (at most max_size bytes) and returns its new size.
size_t MutateStoreSpec(uint8_t* data, size_t size, size_t max_size,
                       unsigned seed);

// LLVMFuzzerCustomCrossOver: a URL made of parts of a URL of each input
// (scheme, user info, hosts, path, parameters: each from one or the other,
// the parameters possibly from both) written to `out`; returns its size, or
// 0 when either input is not a URL or the result does not fit.
size_t CrossOverStoreSpecs(const uint8_t* data1, size_t size1,
                           const uint8_t* data2, size_t size2, uint8_t* out,
                           size_t max_out_size, unsigned seed);

}  // namespace sessionkit::uri::fuzz

#endif  // SESSIONKIT_URI_STORE_URL_MUTATOR_H_
