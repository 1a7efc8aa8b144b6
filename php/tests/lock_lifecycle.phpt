--TEST--
sessionkit: the lock follows the session through abort, regenerate, destroy and reset
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
sessionkit.regenerate_grace=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('locklife');

// Whether another PHP process could take session $id's lock right now.
function other(string $path, string $id): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d sessionkit.lock_wait_ms=0 -d sessionkit.lock_timeout_action=fail'
        . ' -d session.use_cookies=0'
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id($argv[1]); echo @session_start() ? "free" : "locked";')
        . ' ' . escapeshellarg($id) . ' 2>&1';
    return trim(shell_exec($cmd));
}

session_start();
$id = session_id();
$_SESSION['a'] = 1;
session_write_close();

session_id($id);
session_start();
echo "started: ", other($path, $id), "\n";
session_abort();
echo "aborted: ", other($path, $id), "\n";

session_id($id);
session_start();
session_regenerate_id(false);
$new = session_id();
echo "regenerated: old ", other($path, $id), ", new ", other($path, $new), "\n";
session_write_close();
echo "closed: ", other($path, $new), "\n";

session_id($new);
session_start();
session_regenerate_id(true);
$newer = session_id();
echo "regenerated, old deleted: old ", other($path, $new), ", new ", other($path, $newer), "\n";
session_destroy();
echo "destroyed: ", other($path, $newer), "\n";

session_id($id);
session_start();
session_reset();
echo "reset: ", other($path, $id), "\n";
var_dump($_SESSION['a']);
session_write_close();
echo "written: ", other($path, $id), "\n";
?>
--EXPECT--
started: locked
aborted: free
regenerated: old free, new locked
closed: free
regenerated, old deleted: old free, new locked
destroyed: free
reset: locked
int(1)
written: free
