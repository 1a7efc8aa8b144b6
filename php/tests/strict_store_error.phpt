--TEST--
sessionkit: in strict mode a store error while checking the id fails session_start() and keeps the id (no new id, no new cookie)
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
$silent = stream_socket_server('tcp://127.0.0.1:0');
$port = explode(':', stream_socket_get_name($silent, false))[1];
ini_set('session.save_path', "redis://127.0.0.1:$port/0?read_timeout=100ms");
$_SESSION = [];
session_id($id);
// PHP forgets the id of a failed session_start(); what matters is that no
// new id was made: the failure is about the user's own session.
var_dump(session_start());
var_dump(session_status() === PHP_SESSION_NONE);

// The store is back: the same id is still the user's session.
ini_set('session.save_path', $path);
session_id($id);
var_dump(session_start(), session_id() === $id, $_SESSION['user']);
session_write_close();
?>
--EXPECTF--
Warning: session_start(): sessionkit: cannot read the session in the store of session.save_path: redis://127.0.0.1:%d/0?read_timeout=100ms: timed out after 100 ms waiting for a reply from 127.0.0.1:%d (read_timeout)%ssession abcdef...) in %s on line %d

Warning: session_start(): Failed to read session data: sessionkit (path: %s) in %s on line %d
bool(false)
bool(true)
bool(true)
bool(true)
string(5) "alice"
