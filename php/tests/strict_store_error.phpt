--TEST--
sessionkit: in strict mode a store error while checking the id fails session_start() and keeps the id (no new id, no new cookie)
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// One store on a network: one that can stall.
if (in_array(sk_test_store_kind(), ['lmdb', 'tiers', 'php'], true)) die('skip one networked store only');
?>
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
$path = sk_test_store('strictstoreerror');

// An id with a known start: the warning names the session it was about.
$id = 'abcdef' . bin2hex(random_bytes(13));
ini_set('session.use_strict_mode', '0');
session_id($id);
session_start();
$_SESSION['user'] = 'alice';
session_write_close();
ini_set('session.use_strict_mode', '1');

// The store stalls (a listener that accepts and never answers): the id
// cannot be checked, so the request fails; the id is not replaced.
// The URL of the test's store with the silent listener's port; the SQL
// servers speak first, so their connect timeout is shortened too.
$silent = stream_socket_server('tcp://127.0.0.1:0');
$port = explode(':', stream_socket_get_name($silent, false))[1];
$silent_path = sk_test_store_kind() === 'redis'
    ? "redis://127.0.0.1:$port/0?read_timeout=100ms"
    : (sk_test_store_kind() === 'memcached'
    ? "memcached://127.0.0.1:$port?read_timeout=100ms"
    : preg_replace('/@127\.0\.0\.1:\d+\//', "@127.0.0.1:$port/", $path) .
      '&connect_timeout=100ms&read_timeout=100ms');
ini_set('session.save_path', $silent_path);
$_SESSION = [];
session_id($id);
$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});
$t = microtime(true);
// PHP forgets the id of a failed session_start(); what matters is that no
// new id was made: the failure is about the user's own session.
var_dump(session_start());
$elapsed = microtime(true) - $t;
restore_error_handler();
var_dump(session_status() === PHP_SESSION_NONE);
// sessionkit's warning names the stalled server and the session, within
// the timeouts; the Redis store's exact words are known here.
$ours = implode("\n", array_filter($warnings, fn ($w) => str_contains($w, 'sessionkit:')));
var_dump(str_contains($ours, "cannot read the session in the store of session.save_path")
         && str_contains($ours, "127.0.0.1:$port") && str_contains($ours, 'session abcdef...)'));
var_dump($elapsed < 1.0);
if (sk_test_store_kind() === 'redis') {
    var_dump(str_contains($ours, "redis://127.0.0.1:$port/0?read_timeout=100ms: timed out " .
        "after 100 ms waiting for a reply from 127.0.0.1:$port (read_timeout)"));
} elseif (sk_test_store_kind() === 'memcached') {
    var_dump(str_contains($ours, "memcached://127.0.0.1:$port?read_timeout=100ms: timed out " .
        "after 100 ms waiting for a reply from 127.0.0.1:$port (read_timeout)"));
} else {
    $pass = parse_url($path, PHP_URL_PASS);
    var_dump($pass !== null && $pass !== '' && !str_contains($ours, $pass));
}
var_dump(count(array_filter($warnings, fn ($w) => str_contains($w, 'Failed to read session data'))));

// The store is back: the same id is still the user's session.
ini_set('session.save_path', $path);
session_id($id);
var_dump(session_start(), session_id() === $id, $_SESSION['user']);
session_write_close();
?>
--EXPECT--
bool(false)
bool(true)
bool(true)
bool(true)
bool(true)
int(1)
bool(true)
bool(true)
string(5) "alice"
