--TEST--
runner check: fails on its first run and passes when run-tests.php retries it
--FILE--
<?php
// usleep( makes run-tests.php treat the test as timing-sensitive and retry
// it once on failure; the marker file tells the retry from the first run.
usleep(1);
$marker = getenv('SK_RUNNER_TMPDIR') . '/flaky.ran';
if (!file_exists($marker)) {
    touch($marker);
    echo "first run\n";
} else {
    echo "ok\n";
}
?>
--EXPECT--
ok
