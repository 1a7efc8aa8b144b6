--TEST--
sessionkit: session_gc() removes expired LMDB sessions and returns how many; Redis and stores written in PHP expire them themselves and gc reports 0, memcached 0 to 3
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('gc');

function create(int $lifetime): string {
    ini_set('session.gc_maxlifetime', (string) $lifetime);
    session_id('');
    session_start();
    $_SESSION['v'] = $lifetime;
    $id = session_id();
    session_write_close();
    return $id;
}

$short = [create(1), create(1), create(1)];
$long = [create(600), create(600)];
usleep(1300000);

// LMDB removes the three expired sessions in the first sweep. Redis has
// dropped them already (each key carries its expiry), so its Gc removes
// nothing and reports 0. memcached drops an item up to 2 s after its
// session expired (whole seconds), and Gc removes what it still holds: 0
// to 3 of them, depending on the time that passed. A store written in PHP
// drops expired items itself (each carries its expiry), so Gc reports 0
// there too, and an expired session reads as gone all the same.
session_id($long[0]);
session_start();
$first = session_gc();
$ok = match (sk_test_store_kind()) {
    'redis', 'php' => $first === 0,
    'memcached' => is_int($first) && $first >= 0 && $first <= 3,
    default => $first === 3,
};
var_dump($ok ? 'first gc ok' : $first);
// memcached: what the first did not remove yet (its item lists lag by a
// moment), the second may; 3 at most in all.
$second = session_gc();
var_dump(sk_test_store_kind() === 'memcached' && is_int($second) && $first + $second <= 3 ? 0 : $second);
session_write_close();

foreach (array_merge($short, $long) as $id) {
    session_id($id);
    session_start(['read_and_close' => true]);
    echo $_SESSION['v'] ?? 'gone', "\n";
}
?>
--EXPECT--
string(11) "first gc ok"
int(0)
gone
gone
gone
600
600
