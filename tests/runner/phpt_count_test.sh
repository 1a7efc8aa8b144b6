#!/usr/bin/env bash
# scripts/phpt-count on a real run-tests.php log of planted tests: one clean
# pass, one skip, one that passes only on retry and one that cannot run
# (BORK). The retried and the broken test must count as failures, so that a
# flaky .phpt can never make `make test` pass.
# Usage: phpt_count_test.sh PHP RUN_TESTS_PHP WORK_DIR
set -u
php=${1:?usage: phpt_count_test.sh PHP RUN_TESTS_PHP WORK_DIR}
runner=${2:?} work=${3:?}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/tmp"
SK_RUNNER_TMPDIR=$work/tmp NO_INTERACTION=1 "$php" "$runner" -q --no-color \
  -p "$php" --temp-source "$here/phpt" --temp-target "$work/phpt" \
  "$here/phpt" >"$work/run.log" 2>&1
count=$here/../../scripts/phpt-count
counts=$(env -u CI "$count" "$work/run.log") || {
  echo "FAIL: phpt-count refused the log"; cat "$work/run.log"; exit 1; }
echo "$counts"
got=$(tail -1 <<<"$counts")
if [[ $got != "1 2 1" ]]; then
  echo "FAIL: expected '1 2 1' (passed failed skipped), got '$got'"
  cat "$work/run.log"
  exit 1
fi
grep -q "passed on retry" <<<"$counts" || {
  echo "FAIL: the retried test is not named"; exit 1; }
echo "PASS: a test passing only on retry, and a broken one, count as failed"
# In CI a skip that tests/allowed-skips does not name is a failure.
got=$(CI=true "$count" "$work/run.log" | tail -1)
if [[ $got != "1 3 0" ]]; then
  echo "FAIL: with CI=true expected '1 3 0', got '$got'"
  exit 1
fi
echo "PASS: with CI=true the planted skip counts as failed"
