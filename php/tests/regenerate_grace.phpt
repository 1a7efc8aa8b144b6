--TEST--
sessionkit: after session_regenerate_id(true) the old id leads to the new session for sessionkit.regenerate_grace seconds (read, locked, written), a logout through it ends the new session, session_destroy() leaves nothing, and after the grace the old id is gone
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=1
session.gc_probability=0
sessionkit.regenerate_grace=3
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('regengrace');

// Runs $code in another PHP process (a request of another tab) with the
// old cookie $id in strict mode; returns what it printed, warnings too.
function other(string $path, string $id, string $code, string $ini = ''): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.use_strict_mode=1 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id($argv[1]); ' . $code)
        . ' ' . escapeshellarg($id) . ' 2>&1';
    return trim(shell_exec($cmd));
}
const SHOW = 'echo json_encode(session_id() === $argv[1]), " ", json_encode($_SESSION);';

session_start();
$_SESSION['user'] = 'ann';
$old = session_id();
session_write_close();

echo "-- while the regenerating request runs\n";
session_id($old);
session_start();
var_dump(session_regenerate_id(true));
$new = session_id();
var_dump($new !== $old);
// A request without the lock (read_and_close) reads the user's data, and
// one that locks waits for the new session's lock, which this one holds.
echo other($path, $old, "session_start(['read_and_close' => true]); " . SHOW), "\n";
echo other($path, $old, 'echo @session_start() ? "free" : "locked";',
           '-d sessionkit.lock_wait_ms=0 -d sessionkit.lock_timeout_action=fail'), "\n";
$_SESSION['step'] = 1;
session_write_close();

echo "-- within the grace, the old cookie reads, locks and writes the new session\n";
echo other($path, $old, 'session_start(); $_SESSION["ajax"] = 1; ' . SHOW), "\n";
session_id($new);
session_start();
echo json_encode($_SESSION), "\n";
session_write_close();

echo "-- after the grace the old id is gone\n";
usleep(3400000);
echo other($path, $old, 'session_start(); ' . SHOW), "\n";
session_id($new);
session_start();
echo json_encode($_SESSION), "\n";

echo "-- a logout through the old id within the grace ends the new session\n";
var_dump(session_regenerate_id(true));
$newer = session_id();
session_write_close();
echo other($path, $new, 'session_start(); var_dump(session_destroy());'), "\n";
echo other($path, $newer, 'session_start(); ' . SHOW), "\n";

echo "-- session_destroy() leaves no pointer, whatever the grace\n";
session_start();
$_SESSION['user'] = 'bob';
$bob = session_id();
session_write_close();
session_id($bob);
session_start();
var_dump(session_destroy());
echo other($path, $bob, 'session_start(); ' . SHOW), "\n";

echo "-- a logout through the old id whose grace ran out meanwhile ends the session it holds\n";
session_start();
$_SESSION['user'] = 'dee';
$dee = session_id();
session_write_close();
session_id($dee);
session_start();
session_regenerate_id(true);
$dee_new = session_id();
session_write_close();
echo other($path, $dee, 'session_start(); usleep(3300000); var_dump(session_destroy());'), "\n";
echo other($path, $dee_new, 'session_start(); ' . SHOW), "\n";

echo "-- with no grace the old id goes at once\n";
ini_set('sessionkit.regenerate_grace', '0');
session_start();
$_SESSION['user'] = 'cy';
$cy = session_id();
session_write_close();
session_id($cy);
session_start();
session_regenerate_id(true);
session_write_close();
echo other($path, $cy, 'session_start(); ' . SHOW), "\n";

echo "-- bad values are refused, naming the setting\n";
var_dump(ini_set('sessionkit.regenerate_grace', '-1'));
var_dump(ini_set('sessionkit.regenerate_grace', '3601'));
var_dump(ini_get('sessionkit.regenerate_grace'));
?>
--EXPECTF--
-- while the regenerating request runs
bool(true)
bool(true)
true {"user":"ann"}
locked
-- within the grace, the old cookie reads, locks and writes the new session
true {"user":"ann","step":1,"ajax":1}
{"user":"ann","step":1,"ajax":1}
-- after the grace the old id is gone
false []
{"user":"ann","step":1,"ajax":1}
-- a logout through the old id within the grace ends the new session
bool(true)
bool(true)
false []
-- session_destroy() leaves no pointer, whatever the grace
bool(true)
false []
-- a logout through the old id whose grace ran out meanwhile ends the session it holds
bool(true)
false []
-- with no grace the old id goes at once
false []
-- bad values are refused, naming the setting

Warning: ini_set(): sessionkit.regenerate_grace must be a whole number of seconds from 0 (off) to 3600, not "-1" in %s on line %d
bool(false)

Warning: ini_set(): sessionkit.regenerate_grace must be a whole number of seconds from 0 (off) to 3600, not "3601" in %s on line %d
bool(false)
string(1) "0"
