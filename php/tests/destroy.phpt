--TEST--
sessionkit: session_destroy() removes the session from the store
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
$path = sk_test_store('destroy');

session_start();
$_SESSION['user'] = 'bob';
$id = session_id();
session_write_close();

session_id($id);
session_start();
var_dump(session_id() === $id, $_SESSION['user']);
var_dump(session_destroy());
var_dump(session_status() === PHP_SESSION_NONE);

// Gone: strict mode no longer knows the id, and nothing is read.
session_id($id);
session_start();
var_dump(session_id() !== $id, $_SESSION);
session_write_close();

// Destroying a session that was never written is fine too.
session_id('');
session_start();
var_dump(session_destroy());
?>
--EXPECT--
bool(true)
string(3) "bob"
bool(true)
bool(true)
bool(true)
array(0) {
}
bool(true)
