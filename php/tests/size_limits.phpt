--TEST--
sessionkit: sessionkit.max_size refuses a larger write with a warning naming both sizes and keeps the stored session; warn_size writes and logs a notice
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
sessionkit.max_size=100
sessionkit.warn_size=50
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('size_limits');
$log = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/size_limits-' . getmypid() . '.log';
@unlink($log);
ini_set('error_log', $log);
register_shutdown_function(fn () => @unlink($log));

var_dump(ini_set('sessionkit.max_size', '-5'));
var_dump(ini_get('sessionkit.max_size'), ini_get('sessionkit.warn_size'));
$id = 'sizelimits0123456789abcdefghijkl';

session_id($id);
session_start();
$_SESSION['v'] = 'small';
session_write_close();

session_id($id);
session_start();
$_SESSION['v'] = str_repeat('x', 200);   // 211 bytes serialized
session_write_close();

session_id($id);
session_start();
echo 'after refused write: ', $_SESSION['v'], "\n";
$_SESSION['v'] = str_repeat('y', 60);    // 70 bytes: above warn_size
session_write_close();

session_id($id);
session_start(['read_and_close' => true]);
echo 'after warned write: ', strlen($_SESSION['v']), "\n";
$notices = file_exists($log) ? file_get_contents($log) : '';
var_dump(str_contains($notices, '70 bytes of session data, above sessionkit.warn_size (50 bytes); saved all the same'));
?>
--EXPECTF--
Warning: ini_set(): sessionkit.max_size must be between 0 and 2147483647, not "-5" in %s on line %d
bool(false)
string(3) "100"
string(2) "50"

Warning: session_write_close(): sessionkit: cannot save the session in the store of session.save_path: session sizeli...: 211 bytes of session data, above sessionkit.max_size (100 bytes): not saved, the stored session is kept as it was in %s on line %d

Warning: session_write_close(): Failed to write session data (sessionkit). Please verify that the current setting of session.save_path is correct (%s) in %s on line %d
after refused write: small
after warned write: 60
bool(true)
