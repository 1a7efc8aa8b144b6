--TEST--
sessionkit: session_regenerate_id(true) moves the data to a new id and removes the old one (sessionkit.regenerate_grace=0; the grace: regenerate_grace.phpt)
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=1
session.gc_probability=0
sessionkit.regenerate_grace=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('regen');

session_start();
$_SESSION['cart'] = ['apple' => 3];
$old = session_id();
session_write_close();

session_id($old);
session_start();
var_dump(session_regenerate_id(true));
$new = session_id();
var_dump($new !== $old);
$_SESSION['cart']['pear'] = 1;
session_write_close();

// The data lives under the new id (strict mode accepts it as known) ...
session_id($new);
session_start();
var_dump(session_id() === $new, $_SESSION['cart']);
session_write_close();

// ... and the old id is gone: strict mode refuses it, nothing is read.
session_id($old);
session_start();
var_dump(session_id() !== $old, $_SESSION);
session_write_close();

// Without delete_old_session the old session stays, with its old data.
session_id($new);
session_start();
var_dump(session_regenerate_id(false));
$newer = session_id();
$_SESSION['cart']['plum'] = 2;
session_write_close();
session_id($new);
session_start();
var_dump(session_id() === $new, count($_SESSION['cart']));
session_write_close();
session_id($newer);
session_start();
var_dump(session_id() === $newer, count($_SESSION['cart']));
session_write_close();
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
array(2) {
  ["apple"]=>
  int(3)
  ["pear"]=>
  int(1)
}
bool(true)
array(0) {
}
bool(true)
bool(true)
int(2)
bool(true)
int(3)
