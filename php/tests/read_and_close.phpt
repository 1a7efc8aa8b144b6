--TEST--
sessionkit: session_start(['read_and_close' => true]) reads the data and writes nothing back
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
$path = sk_test_store('rac');

session_start();
$_SESSION['seen'] = 1;
$id = session_id();
session_write_close();

session_id($id);
var_dump(session_start(['read_and_close' => true]));
var_dump(session_status() === PHP_SESSION_NONE, $_SESSION['seen']);
$_SESSION['seen'] = 99;  // closed already: not saved

session_id($id);
session_start();
var_dump($_SESSION['seen']);
session_write_close();

// On a new id, read_and_close starts and closes without creating anything.
session_id('abcdefghijklmnopqrstuvwxyz012345');
var_dump(session_start(['read_and_close' => true]), $_SESSION);
ini_set('session.use_strict_mode', '1');
session_id('abcdefghijklmnopqrstuvwxyz012345');
session_start();
var_dump(session_id() !== 'abcdefghijklmnopqrstuvwxyz012345');
session_write_close();

// PHP reads the option as an integer: 'no' is 0, so the session stays open,
// and it holds its lock like any open session.
function other(string $path, string $id): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.use_cookies=0 -d session.gc_probability=0'
        . ' -d sessionkit.lock_wait_ms=0 -d sessionkit.lock_timeout_action=fail'
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id($argv[1]); echo @session_start() ? "free" : "locked";')
        . ' ' . escapeshellarg($id);
    return trim(shell_exec($cmd . ' 2>&1'));
}
session_id($id);
var_dump(session_start(['read_and_close' => 'no']));
var_dump(session_status() === PHP_SESSION_ACTIVE);
echo "while open: ", other($path, $id), "\n";
session_write_close();
echo "after: ", other($path, $id), "\n";
?>
--EXPECT--
bool(true)
bool(true)
int(1)
int(1)
bool(true)
array(0) {
}
bool(true)
bool(true)
bool(true)
while open: locked
after: free
