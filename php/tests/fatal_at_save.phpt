--TEST--
sessionkit: a request that dies with a fatal error while its session is saved leaves no lock behind
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('fatalsave');

function php_cli(string $path, string $code, string $id, string $ini = ''): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.use_cookies=0 -d display_errors=1 -d log_errors=0 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' ' . escapeshellarg($id) . ' 2>&1';
    return trim(shell_exec($cmd));
}

session_start();
$id = session_id();
$_SESSION['n'] = 1;
session_write_close();

// The child's session cannot be encoded at the end of the request: the
// fatal error bails out of PHP's save, and the lock must still go at once
// (its lease, under the CLI, is 300 s).
$child = php_cli($path, 'class Boom { function __sleep() { trigger_error("cannot serialize", E_USER_ERROR); } }
session_id($argv[1]); session_start(); $_SESSION["n"]++; $_SESSION["b"] = new Boom; echo "started\n";', $id);
echo str_contains($child, 'started') ? "child started\n" : "child: $child\n";
echo str_contains($child, 'cannot serialize') ? "child died at save\n" : "child: $child\n";

$next = php_cli($path, 'session_id($argv[1]); echo @session_start() ? "free n=" . $_SESSION["n"] : "locked";', $id,
    '-d sessionkit.lock_wait_ms=0 -d sessionkit.lock_timeout_action=fail');
echo "next request: $next\n";
?>
--EXPECT--
child started
child died at save
next request: free n=1
