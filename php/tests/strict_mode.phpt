--TEST--
sessionkit: with session.use_strict_mode=1 an unknown id is refused and a new one created
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=1
session.gc_probability=0
session.sid_length=32
session.sid_bits_per_character=5
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('strict');

// An id an attacker picked: well formed, but no such session.
$forged = 'attackerchosenid0123456789abcdef';
session_id($forged);
var_dump(session_start());
$id = session_id();
var_dump($id !== $forged, (bool) preg_match('/^[0-9a-v]{32}$/', $id));
$_SESSION['user'] = 'alice';
session_write_close();

// The id sessionkit handed out is known now and accepted as is.
$_SESSION = [];
session_id($id);
var_dump(session_start());
var_dump(session_id() === $id, $_SESSION['user']);
session_write_close();

// The forged id was never stored: asking for it again still yields a new id.
session_id($forged);
session_start();
var_dump(session_id() !== $forged, session_id() !== $id, $_SESSION);
session_write_close();

// A malformed id is simply unknown in strict mode: replaced, no failure.
session_id('../../etc/passwd');
var_dump(session_start());
var_dump((bool) preg_match('/^[0-9a-v]{32}$/', session_id()));
session_write_close();

// session_create_id() checks the id against the store too.
session_start();
$new = session_create_id('pre-');
var_dump((bool) preg_match('/^pre-[0-9a-v]{32}$/', $new));
session_write_close();
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
string(5) "alice"
bool(true)
bool(true)
array(0) {
}
bool(true)
bool(true)
bool(true)
