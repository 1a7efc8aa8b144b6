--TEST--
sessionkit: sessionkit.first_lifetime for a session written once, doubled by each later write or touch; max_lifetime bounds every lifetime
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.gc_maxlifetime=600
session.lazy_write=1
sessionkit.first_lifetime=1
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('first_lifetime');
$_SERVER['HTTP_USER_AGENT'] = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';

// One request on session $id; $value null leaves it unchanged (a touch).
function visit(string $id, ?string $value): void {
    session_id($id);
    session_start();
    if ($value !== null) $_SESSION['v'] = $value;
    session_write_close();
}

$once = 'firstlifetimeonce0123456789abcde';
$thrice = 'firstlifetimethrice0123456789abc';
$touched = 'firstlifetimetouched0123456789ab';
visit($once, 'once');                   // 1 s
visit($thrice, 'a');                    // 1 s
visit($thrice, 'b');                    // 2 s
visit($thrice, 'thrice');               // 4 s
visit($touched, 'touched');             // 1 s
visit($touched, null);                  // touched: 2 s
visit($touched, null);                  // touched: 4 s

ini_set('sessionkit.first_lifetime', '0');
ini_set('sessionkit.max_lifetime', '1');
$bounded = 'firstlifetimebounded0123456789ab';
visit($bounded, 'bounded');             // 600 s, bounded to 1 s

if (sk_test_store_kind() === 'redis') {
    $ttl = fn ($id) => sk_test_redis($path, 'PTTL', sk_test_redis_prefix($path) . '{' . $id . '}');
    var_dump($ttl($once) <= 1000, $ttl($thrice) > 2000 && $ttl($thrice) <= 4000,
             $ttl($touched) > 2000 && $ttl($touched) <= 4000);
} else {
    var_dump(true, true, true);
}

usleep(2200000);
foreach ([$once, $thrice, $touched, $bounded] as $id) {
    session_id($id);
    session_start(['read_and_close' => true]);
    echo $_SESSION['v'] ?? 'gone', "\n";
}
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
gone
thrice
touched
gone
