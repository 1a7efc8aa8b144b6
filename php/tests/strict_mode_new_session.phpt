--TEST--
sessionkit: strict mode keeps the id of a new session another request is still creating
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=1
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('strictnew');

// Another request with the id, in strict mode: waits `$wait_ms` for the
// lock, then fails.
function other(string $path, string $id, string $wait_ms): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.use_cookies=0 -d session.gc_probability=0'
        . ' -d session.use_strict_mode=1'
        . " -d sessionkit.lock_wait_ms=$wait_ms -d sessionkit.lock_timeout_action=fail"
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('$m = [];'
            . ' set_error_handler(function ($n, $s) use (&$m) { $m[] = $s; return true; });'
            . ' session_id($argv[1]); $ok = session_start();'
            . ' echo !$ok ? "refused, " . (preg_grep("/held its lock/", $m) ? "locked" : implode(" | ", $m))'
            . ' : (session_id() === $argv[1] ? "same id, " : "another id, ") . json_encode($_SESSION);')
        . ' ' . escapeshellarg($id);
    return trim(shell_exec($cmd . ' 2>&1'));
}

// A first visit: a new id, its session not written yet. The files handler
// creates the session's file as it opens it, so a parallel request (an
// image, an XHR of the page) keeps the id and waits for the lock, rather
// than being handed another id whose cookie replaces this one.
session_start();
$id = session_id();
$_SESSION['login'] = 'alice';
echo "while open: ", other($path, $id, '0'), "\n";
session_write_close();
echo "after: ", other($path, $id, '2000'), "\n";

// A new session left without a write is not kept: nothing was stored.
session_id('');
session_start();
$left = session_id();
session_abort();
echo "left: ", other($path, $left, '0'), "\n";
?>
--EXPECT--
while open: refused, locked
after: same id, {"login":"alice"}
left: another id, []
