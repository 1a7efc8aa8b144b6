--TEST--
sessionkit: a store written in PHP as a tier, in front of LMDB and behind it; write=async on it refused with a clear error, alone or as a tier
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
require 'php_store.inc';
$lmdb = sk_test_store('php-tiers');
$cache = new ArrayStore();
sessionkit_register_store('cache', $cache);

// What LMDB alone holds for $id.
function lmdb_has(string $lmdb, string $id): string {
    ini_set('session.save_path', $lmdb);
    session_id($id);
    session_start(['read_and_close' => true]);
    return json_encode($_SESSION);
}

foreach (["php://cache|$lmdb", "$lmdb|php://cache"] as $spec) {
    echo "-- ", str_replace($lmdb, 'lmdb', $spec), "\n";
    $id = 'tier' . bin2hex(random_bytes(12));
    ini_set('session.save_path', sk_test_with_breaker($spec));
    session_id($id);
    var_dump(session_start());
    $_SESSION['n'] = 7;
    var_dump(session_write_close());
    echo "php tier: ", isset($cache->items[$id]) ? 'has it' : 'missing', "\n";
    echo "lmdb tier: ", lmdb_has($lmdb, $id), "\n";
    // The PHP tier alone serves it after LMDB lost it.
    ini_set('session.save_path', 'php://cache');
    session_id($id);
    session_start(['read_and_close' => true]);
    echo "php alone: ", json_encode($_SESSION), "\n";
}

echo "-- write=async on a php:// tier\n";
ini_set('session.save_path', "$lmdb|php://cache?write=async");
var_dump(session_start());
echo "-- write=async alone\n";
ini_set('session.save_path', "php://cache?write=async");
var_dump(session_start());
?>
--EXPECTF--
-- php://cache|lmdb
bool(true)
bool(true)
php tier: has it
lmdb tier: {"n":7}
php alone: {"n":7}
-- lmdb|php://cache
bool(true)
bool(true)
php tier: has it
lmdb tier: {"n":7}
php alone: {"n":7}
-- write=async on a php:// tier

Warning: session_start(): sessionkit: %stier 2: php://cache?write=async: a store written in PHP cannot be written behind (write=async)%s
%A
bool(false)
-- write=async alone

Warning: session_start(): sessionkit: %sphp://cache?write=async: a store written in PHP cannot be written behind (write=async)%s
%A
bool(false)
