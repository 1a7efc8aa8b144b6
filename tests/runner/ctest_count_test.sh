#!/usr/bin/env bash
# scripts/ctest-count on planted reports: a ctest run of a passing and a
# skipped case and two whole binaries, one with 2 passed, 1 failed and 1
# skipped case and a skip tests/allowed-skips allows, one that crashed after
# a passing case. Counted case by case: 4 passed, 2 failed (the planted
# failure, the crash), 3 skipped, each skip named with its reason; with
# CI=true the two skips the list does not allow are failures.
set -u
here=$(cd "$(dirname "$0")" && pwd)
count=$here/../../scripts/ctest-count
in=$here/ctest
out=$(env -u CI "$count" "$in/ctest.junit.xml" "$in/whole_binary.xml" \
  "$in/crashed_binary.xml") || { echo "FAIL: ctest-count failed"; exit 1; }
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
[[ $(tail -1 <<<"$out") == "4 2 3" ]] || fail "expected '4 2 3'"
grep -q "SKIPPED Unit.Skips: the planted reason" <<<"$out" ||
  fail "the ctest skip is not named with its reason"
grep -q "SKIPPED Topology.D: x.cc:4 planted topology skip" <<<"$out" ||
  fail "the whole binary's skip is not named with its reason"
grep -q "FAILED  crashed_binary (the binary failed outside" <<<"$out" ||
  fail "the crash is not counted"
got=$(CI=true "$count" "$in/ctest.junit.xml" "$in/whole_binary.xml" \
  "$in/crashed_binary.xml" | tail -1)
[[ $got == "4 4 1" ]] || fail "with CI=true expected '4 4 1', got '$got'"
echo "PASS: whole binaries counted case by case, skips named, CI refuses them"
