--TEST--
sessionkit: a store written in PHP (php://NAME): round trip, the lock as an item added and deleted, lifetimes, read_and_close, regenerate, destroy; an unregistered or bad name is a clear error
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// The test brings its own store: one run is enough.
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.save_path=php://cart
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
session.gc_maxlifetime=600
sessionkit.regenerate_grace=0
--FILE--
<?php
ob_start();
require 'php_store.inc';
$store = new ArrayStore();
sessionkit_register_store('cart', $store);
$id = 'cart' . bin2hex(random_bytes(12));

echo "-- round trip; the lock is held from start to write\n";
session_id($id);
var_dump(session_start());
echo "while open: ", $store->keys($id), "\n";
$_SESSION['items'] = ['apple', "nul\0byte"];
var_dump(session_write_close());
echo "after write: ", $store->keys($id), "\n";
echo "lock calls: ", implode(', ', array_map(fn ($c) => str_replace($id, 'ID', $c),
    array_filter($store->calls, fn ($c) => str_contains($c, '.lock')))), "\n";

echo "-- the value: \"SKp\", its expiry, the frame; the TTL handed to the store\n";
[$value] = $store->items[$id];
echo substr($value, 0, 3), "\n";
$expires = unpack('J', substr($value, 3, 8))[1] / 1000;
var_dump(abs($expires - (microtime(true) + 600)) < 5);
var_dump($store->ttls[$id]);

echo "-- read back\n";
session_id($id);
session_start();
var_dump($_SESSION['items'] === ['apple', "nul\0byte"]);
// Nothing for gc to remove: the store drops what expired (its TTLs).
var_dump(session_gc());
session_write_close();

echo "-- read_and_close takes no lock and writes nothing\n";
$store->calls = [];
session_id($id);
var_dump(session_start(['read_and_close' => true]));
echo implode(', ', array_map(fn ($c) => str_replace($id, 'ID', $c), $store->calls)), "\n";

echo "-- a shorter lifetime\n";
ini_set('session.gc_maxlifetime', '30');
session_id($id);
session_start();
$_SESSION['n'] = 1;
session_write_close();
var_dump($store->ttls[$id]);

echo "-- regenerate moves the session\n";
session_id($id);
session_start();
var_dump(session_regenerate_id(true));
$new = session_id();
session_write_close();
var_dump(isset($store->items[$id]), isset($store->items[$new]));
session_id($new);
session_start(['read_and_close' => true]);
var_dump($_SESSION['n']);

echo "-- destroy\n";
session_id($new);
session_start();
var_dump(session_destroy());
echo "left: '", $store->keys($new), "'\n";

echo "-- an unregistered name\n";
ini_set('session.save_path', 'php://nobody');
var_dump(session_start());

echo "-- a bad name\n";
try {
    sessionkit_register_store('no spaces', $store);
} catch (ValueError $e) {
    echo get_class($e), ": ", $e->getMessage(), "\n";
}
?>
--EXPECTF--
-- round trip; the lock is held from start to write
bool(true)
while open: ID.lock
bool(true)
after write: ID
lock calls: add ID.lock, get ID.lock, delete ID.lock
-- the value: "SKp", its expiry, the frame; the TTL handed to the store
SKp
bool(true)
int(601)
-- read back
bool(true)
int(0)
-- read_and_close takes no lock and writes nothing
bool(true)
get ID
-- a shorter lifetime
int(31)
-- regenerate moves the session
bool(true)
bool(false)
bool(true)
int(1)
-- destroy
bool(true)
left: ''
-- an unregistered name

Warning: session_start(): sessionkit: %sphp://nobody: no store registered under this name; call sessionkit_register_store() before session_start()%s
%A
bool(false)
-- a bad name
ValueError: sessionkit_register_store(): Argument #1 ($name) bad php URL: expected the name of a registered store after 'php://' (1 to 64 letters, digits, '_', '-' or '.'), as in php://cart, got 'no spaces'
