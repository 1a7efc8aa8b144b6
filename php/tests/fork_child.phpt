--TEST--
sessionkit: a child forked while the session is open neither writes nor releases it; the parent keeps the lock and saves
--EXTENSIONS--
sessionkit
pcntl
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
error_log=/dev/null
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('fork');

session_start();
$id = session_id();
$_SESSION['p'] = 1;
$child = pcntl_fork();
if ($child === 0) {
    // The child ends with the parent's request: its save is skipped.
    $_SESSION['p'] = 'child';
    exit(0);
}
pcntl_waitpid($child, $status);
var_dump(pcntl_wexitstatus($status));
$_SESSION['p'] = 2;
var_dump(session_write_close());
session_id($id);
session_start(['read_and_close' => true]);
var_dump($_SESSION['p']);
?>
--EXPECT--
int(0)
bool(true)
int(2)
