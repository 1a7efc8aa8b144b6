--TEST--
sessionkit: sessionkit.first_lifetime for a session written once, doubled by each later write or touch (a regenerated id keeps the count); max_lifetime bounds every lifetime
--EXTENSIONS--
sessionkit
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
$path = sk_test_store('first_lifetime');

// One request (its own PHP process, as a web request is) on session $id
// by a browser: $code runs between session_start() and the end. With
// lazy_write, a request that changes nothing touches the session.
function visit(string $path, string $id, string $code, string $ini = ''): void {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.gc_probability=0'
        . ' -d session.gc_maxlifetime=600 -d session.lazy_write=1'
        . ' -d sessionkit.first_lifetime=1 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('$_SERVER["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";'
                                  . ' session_id($argv[1]); session_start(); ' . $code)
        . ' ' . escapeshellarg($id) . ' 2>&1';
    echo shell_exec($cmd);
}

$once = 'firstlifetimeonce0123456789abcde';
$thrice = 'firstlifetimethrice0123456789abc';
$touched = 'firstlifetimetouched0123456789ab';
$old = 'firstlifetimeregenerated01234567';
$bounded = 'firstlifetimebounded0123456789ab';
// The sessions expected gone first; each expected to live ends with its
// 3rd write just before the wait, so that slow processes do not eat into
// its 4 s.
visit($path, $once, '$_SESSION["v"] = "once";');       // 1 s
// Off, and a normal session bounded by max_lifetime.
visit($path, $bounded, '$_SESSION["v"] = "bounded";',
      '-d sessionkit.first_lifetime=0 -d sessionkit.max_lifetime=1');
visit($path, $thrice, '$_SESSION["v"] = "a";');        // 1 s
visit($path, $thrice, '$_SESSION["v"] = "b";');        // 2 s
visit($path, $touched, '$_SESSION["v"] = "touched";'); // 1 s
visit($path, $touched, '');                            // touched: 2 s
// A login: the second request regenerates the id; the new id's session
// counts on from the old one's (its write is the 2nd: 2 s, the next
// request's the 3rd: 4 s), not from 1 (1 s, then 2 s).
visit($path, $old, '$_SESSION["v"] = "x";');
$new_id_file = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/first_lifetime_new_id_' . getmypid();
// (With a grace of 1 s the old id leads to the new session for 1 s only,
// so it is gone by the end.)
visit($path, $old, '$_SESSION["v"] = "regenerated"; session_regenerate_id(true);'
                   . ' file_put_contents(' . var_export($new_id_file, true) . ', session_id());',
      '-d sessionkit.regenerate_grace=1');
$regenerated = (string) file_get_contents($new_id_file);
unlink($new_id_file);
visit($path, $thrice, '$_SESSION["v"] = "thrice";');   // 4 s
visit($path, $touched, '');                            // touched: 4 s
visit($path, $regenerated, '$_SESSION["v"] = "regenerated";');

if (sk_test_store_kind() === 'redis') {
    $ttl = fn ($id) => sk_test_redis($path, 'PTTL', sk_test_redis_prefix($path) . '{' . $id . '}');
    var_dump($ttl($once) <= 1000, $ttl($thrice) > 2000 && $ttl($thrice) <= 4000,
             $ttl($touched) > 2000 && $ttl($touched) <= 4000,
             $ttl($regenerated) > 2000 && $ttl($regenerated) <= 4000);
} else {
    var_dump(true, true, true, true);
}

usleep(2200000);
foreach ([$once, $thrice, $touched, $old, $regenerated, $bounded] as $id) {
    session_id($id);
    session_start(['read_and_close' => true]);
    echo $_SESSION['v'] ?? 'gone', "\n";
}
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
gone
thrice
touched
gone
regenerated
gone
