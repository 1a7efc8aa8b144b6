--TEST--
sessionkit: data written by one session_start() is read by the next, in this process and another
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.sid_length=32
session.sid_bits_per_character=5
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('basic');

var_dump(session_start());
$id = session_id();
var_dump(strlen($id));
var_dump($_SESSION);
$_SESSION['n'] = 1;
$_SESSION['bin'] = "a\0b\xff";
$_SESSION['list'] = [1, 2.5, 'x' => true];
var_dump(session_write_close());
var_dump(sk_test_store_written($path, $id, 'n|i:1;bin|s:4:"a' . "\0" . 'b' . "\xff" . '";'));
var_dump(sk_test_store_written($path, $id, 'n|i:2;'));

$_SESSION = [];
session_id($id);
var_dump(session_start());
var_dump(session_id() === $id);
var_dump($_SESSION['n'], $_SESSION['bin'] === "a\0b\xff", $_SESSION['list']);
$_SESSION['n']++;
session_write_close();

// Another process sees the same data through the same store.
$cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
    . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
    . ' -r ' . escapeshellarg('session_id($argv[1]); session_start(); echo "child n=", $_SESSION["n"], "\n"; $_SESSION["child"] = getmypid(); session_write_close();')
    . ' ' . escapeshellarg($id) . ' 2>&1';
echo shell_exec($cmd);

session_id($id);
session_start();
var_dump($_SESSION['n'], is_int($_SESSION['child']) && $_SESSION['child'] !== getmypid());
session_write_close();
?>
--EXPECT--
bool(true)
int(32)
array(0) {
}
bool(true)
bool(true)
bool(false)
bool(true)
bool(true)
int(1)
bool(true)
array(3) {
  [0]=>
  int(1)
  [1]=>
  float(2.5)
  ["x"]=>
  bool(true)
}
child n=2
int(2)
bool(true)
