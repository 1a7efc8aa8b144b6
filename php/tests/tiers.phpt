--TEST--
sessionkit: tiers (save paths of several URLs) write every tier, keep serving while one tier is down, and write a tier behind through the journal
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// Two LMDB tiers and a dead Redis; the tiers run covers Redis in front of LMDB.
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$a = sk_test_store('tiers-a');
$b = sk_test_store('tiers-b');
$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});
$id = 'tiers' . bin2hex(random_bytes(12));

// Both tiers are written.
ini_set('session.save_path', sk_test_with_breaker("$a|$b"));
session_id($id);
var_dump(session_start());
$_SESSION['n'] = 1;
var_dump(session_write_close());
foreach ([$a, $b] as $tier) {
    ini_set('session.save_path', $tier);
    session_id($id);
    session_start(['read_and_close' => true]);
    echo "alone: ", $_SESSION['n'] ?? 'missing', "\n";
}

// A first tier that is down (nothing listens on the port): the session is
// read from the second and written there, and nothing is lost.
$closed = stream_socket_server('tcp://127.0.0.1:0');
$port = explode(':', stream_socket_get_name($closed, false))[1];
fclose($closed);
ini_set('session.save_path', sk_test_with_breaker("redis://127.0.0.1:$port/0?connect_timeout=100ms|$b"));
for ($i = 0; $i < 3; $i++) {
    session_id($id);
    session_start();
    $_SESSION['n']++;
    session_write_close();
}
ini_set('session.save_path', $b);
session_id($id);
session_start(['read_and_close' => true]);
echo "after the outage: ", $_SESSION['n'], "\n";
echo "warnings: ", count($warnings), "\n";

// A tier written behind: the request does not wait for it, and the
// journal's drain brings it the session soon after.
$c = sk_test_store('tiers-c');
$journal = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-tiers-journal-' . getmypid();
register_shutdown_function(function () use ($journal) {
    foreach (glob("$journal/*") ?: [] as $f) unlink($f);
    @rmdir($journal);
});
ini_set('session.save_path', sk_test_with_breaker("$a|$c?write=async&journal=$journal"));
session_id($id);
var_dump(session_start());
$_SESSION['n']++;
var_dump(session_write_close());
$behind = 'missing';
for ($i = 0; $i < 100 && $behind !== 2; $i++) {
    ini_set('session.save_path', $c);
    session_id($id);
    session_start(['read_and_close' => true]);
    $behind = $_SESSION['n'] ?? 'missing';
    if ($behind !== 2) usleep(50000);
}
echo "behind: $behind\n";
echo "warnings: ", count($warnings), "\n";
?>
--EXPECT--
bool(true)
bool(true)
alone: 1
alone: 1
after the outage: 4
warnings: 0
bool(true)
bool(true)
behind: 2
warnings: 0
