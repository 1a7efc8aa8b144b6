--TEST--
sessionkit: a bad session.save_path gives a warning naming the problem and session_start() returns false
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// Bad LMDB paths and URL errors; redis_errors.phpt covers the Redis store.
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-badpath-' . getmypid();
@mkdir($dir, 0700, true);
file_put_contents("$dir/a-file", "not a directory");
register_shutdown_function(function () use ($dir) {
    unlink("$dir/a-file");
    @rmdir($dir);
});

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});

function attempt(string $path): void {
    global $warnings;
    $warnings = [];
    ini_set('session.save_path', $path);
    $started = session_start();
    echo "started: ", var_export($started, true),
         ", status none: ", var_export(session_status() === PHP_SESSION_NONE, true), "\n";
    foreach ($warnings as $w) echo "  $w\n";
}

echo "-- empty\n";
attempt('');
echo "-- unknown scheme\n";
attempt('bogus:///var/lib/x');
echo "-- unknown scheme again: reported again\n";
attempt('bogus:///var/lib/x');
echo "-- bad parameter value\n";
attempt("lmdb://$dir/s?map_size=banana");
echo "-- unknown parameter\n";
attempt("lmdb://$dir/s?colour=blue");
echo "-- unusable directory\n";
attempt("lmdb://$dir/a-file/store");

echo "-- password is redacted in sessionkit's warning\n";
$warnings = [];
ini_set('session.save_path', 'redis://:hunter2@127.0.0.1:6390/0?no_such_param=1');
var_dump(session_start());
$ours = array_values(array_filter($warnings, fn ($w) => str_contains($w, 'sessionkit:')));
var_dump(count($ours) >= 1);
// It does not parse: everything between "://" and the last '@' is masked.
var_dump(str_contains($ours[0], 'redis://***@127.0.0.1:6390/0'));
var_dump(str_contains(implode("\n", $ours), 'hunter2'));

echo "-- a good path still works afterwards\n";
ini_set('session.save_path', "lmdb://$dir/good");
var_dump(session_start());
$_SESSION['x'] = 1;
var_dump(session_write_close());
foreach (glob("$dir/good/*") as $f) unlink($f);
rmdir("$dir/good");
?>
--EXPECTF--
-- empty
started: false, status none: true
  session_start(): sessionkit: session.save_path is empty: set it to a store URL, e.g. "lmdb:///var/lib/sessionkit"
  session_start(): Failed to initialize storage module: sessionkit (path: )
-- unknown scheme
started: false, status none: true
  session_start(): sessionkit: session.save_path "bogus:///var/lib/x" is not usable: %sbogus%s
  session_start(): Failed to initialize storage module: sessionkit (path: bogus:///var/lib/x)
-- unknown scheme again: reported again
started: false, status none: true
  session_start(): sessionkit: session.save_path "bogus:///var/lib/x" is not usable: %sbogus%s
  session_start(): Failed to initialize storage module: sessionkit (path: bogus:///var/lib/x)
-- bad parameter value
started: false, status none: true
  session_start(): sessionkit: session.save_path "lmdb://%s/s?map_size=banana" is not usable: %smap_size%sbanana%s
  session_start(): Failed to initialize storage module: sessionkit (path: lmdb://%s/s?map_size=banana)
-- unknown parameter
started: false, status none: true
  session_start(): sessionkit: session.save_path "lmdb://%s/s?colour=blue" is not usable: %scolour%s
  session_start(): Failed to initialize storage module: sessionkit (path: lmdb://%s/s?colour=blue)
-- unusable directory
started: false, status none: true
  session_start(): sessionkit: cannot read the session in the store of session.save_path: %sa-file/store%s
  session_start(): Failed to read session data: sessionkit (path: lmdb://%s/a-file/store)
-- password is redacted in sessionkit's warning
bool(false)
bool(true)
bool(true)
bool(false)
-- a good path still works afterwards
bool(true)
bool(true)
