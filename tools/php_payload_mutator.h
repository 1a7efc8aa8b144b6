// A structure-aware mutator for php_payload_fuzzer (compiled only into it).
//
// A PHP session payload is a tree written with counts and lengths
// (a:2:{...}, s:5:"alice"): one more nested array takes a new a:<n>:{...}
// with a matching count and brace, which byte mutations almost never write
// whole. These functions decode the payload with the CLI's own decoder
// (php_payload.h, either handler format), apply one edit to the tree (a
// value wrapped in an array, an element added or dropped, a value replaced
// by one of another type or by a copy of another value, a scalar altered,
// a variable duplicated or dropped, the handler format switched) and write
// it back with correct counts and lengths. A quarter of the calls, and
// every input that does not decode, get libFuzzer's byte mutations
// (LLVMFuzzerMutate) instead, so bugs of malformed payloads stay reachable.
#ifndef SESSIONKIT_TOOLS_PHP_PAYLOAD_MUTATOR_H_
#define SESSIONKIT_TOOLS_PHP_PAYLOAD_MUTATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "php_payload.h"

namespace sessionkit::cli::fuzz {

// PHP's serialize() of `session` in its format: what ParsePhpSession reads
// back as the same tree (S: strings are written as s:).
std::string SerializePhpSession(const PhpSession& session);

// LLVMFuzzerCustomMutator: edits the payload in data[0, size) in place
// (at most max_size bytes) and returns its new size.
size_t MutatePhpPayload(uint8_t* data, size_t size, size_t max_size,
                        unsigned seed);

// LLVMFuzzerCustomCrossOver: the first payload with a value or variable of
// the second put into it, written to `out`; returns its size, or 0 when
// either does not decode or the result does not fit.
size_t CrossOverPhpPayloads(const uint8_t* data1, size_t size1,
                            const uint8_t* data2, size_t size2, uint8_t* out,
                            size_t max_out_size, unsigned seed);

}  // namespace sessionkit::cli::fuzz

#endif  // SESSIONKIT_TOOLS_PHP_PAYLOAD_MUTATOR_H_
