--TEST--
sessionkit on Redis: a session is one key prefix{id} expiring with gc_maxlifetime; a server that is down, an unknown database, a needless password and a silent listener each fail session_start() with a warning, within the timeout
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'redis') die('skip Redis run only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.gc_maxlifetime=600
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('redis');
$prefix = sk_test_redis_prefix($path);
$server = parse_url($path);
$hostport = "{$server['host']}:{$server['port']}";

echo "-- data layout\n";
session_start();
$_SESSION['user'] = 'carol';
$id = session_id();
session_write_close();
$key = $prefix . '{' . $id . '}';
var_dump(sk_test_redis($path, 'EXISTS', $key));
$ttl = sk_test_redis($path, 'PTTL', $key);
var_dump($ttl > 590000 && $ttl <= 600000);
var_dump(str_contains(sk_test_redis($path, 'GET', $key), 'carol'));
var_dump(sk_test_redis($path, 'KEYS', "$prefix*") === [$key]);
session_id($id);
session_start();
var_dump(session_destroy());
var_dump(sk_test_redis($path, 'EXISTS', $key));

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});

// Starts a session with a given id on $url; shows the result, sessionkit's
// warning and whether it came within $limit seconds.
function attempt(string $url, float $limit): void {
    global $warnings;
    $warnings = [];
    ini_set('session.save_path', $url);
    session_id('abcdefghijklmnopqrstuvwxyz012345');
    $t = microtime(true);
    $started = session_start();
    $elapsed = microtime(true) - $t;
    echo "started: ", var_export($started, true), ", in time: ",
         var_export($elapsed < $limit, true), "\n";
    foreach ($warnings as $w) {
        if (str_contains($w, 'sessionkit:')) echo "  $w\n";
    }
    // Never the full id.
    if (str_contains(implode("\n", $warnings), 'abcdefghijklmnopqrstuvwxyz012345')) echo "  id echoed!\n";
}

echo "-- server down\n";
$s = stream_socket_server('tcp://127.0.0.1:0');
$closed = explode(':', stream_socket_get_name($s, false))[1];
fclose($s);
attempt("redis://127.0.0.1:$closed/0?connect_timeout=100ms", 1.0);

echo "-- unknown database\n";
attempt("redis://$hostport/99", 1.0);

echo "-- password given, the server has none\n";
attempt("redis://:hunter2@$hostport/0", 1.0);
// PHP's own "Failed to read session data" warning quotes save_path as is;
// sessionkit's own never shows the password.
$ours = array_filter($warnings, fn ($w) => str_contains($w, 'sessionkit:'));
var_dump(str_contains(implode("\n", $ours), 'hunter2'));

echo "-- a listener that never answers\n";
$silent = stream_socket_server('tcp://127.0.0.1:0');
$silent_port = explode(':', stream_socket_get_name($silent, false))[1];
$t = microtime(true);
attempt("redis://127.0.0.1:$silent_port/0?read_timeout=100ms", 1.0);
var_dump(microtime(true) - $t >= 0.095);

echo "-- the good server still works afterwards\n";
$warnings = [];
ini_set('session.save_path', $path);
session_id('');
var_dump(session_start());
$_SESSION['x'] = 1;
var_dump(session_write_close(), $warnings);
?>
--EXPECTF--
-- data layout
int(1)
bool(true)
bool(true)
bool(true)
bool(true)
int(0)
-- server down
started: false, in time: true
  session_start(): sessionkit: cannot read the session in the store of session.save_path: redis://127.0.0.1:%d/0?connect_timeout=100ms: cannot connect to 127.0.0.1:%d: Connection refused (locked read of session abcdef...)
-- unknown database
started: false, in time: true
  session_start(): sessionkit: cannot read the session in the store of session.save_path: redis://127.0.0.1:%d/99: database 99 does not exist on 127.0.0.1:%d (the server says: ERR DB index is out of range%s) (locked read of session abcdef...)
-- password given, the server has none
started: false, in time: true
  session_start(): sessionkit: cannot read the session in the store of session.save_path: redis://:***@127.0.0.1:%d/0: a password is given but the server at 127.0.0.1:%d has none set (the server says: %s) (locked read of session abcdef...)
bool(false)
-- a listener that never answers
started: false, in time: true
  session_start(): sessionkit: cannot read the session in the store of session.save_path: redis://127.0.0.1:%d/0?read_timeout=100ms: timed out after 100 ms waiting for a reply from 127.0.0.1:%d (read_timeout) (locked read of session abcdef...)
bool(true)
-- the good server still works afterwards
bool(true)
bool(true)
array(0) {
}
