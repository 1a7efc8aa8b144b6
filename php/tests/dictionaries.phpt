--TEST--
sessionkit: sessionkit.dictionaries: a dictionary trained with sessionkit train on stored sessions compresses new writes, which read back; without the dictionary such a session reads empty with a warning and is not overwritten; a damaged dictionary file stops the session from starting
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
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('dictionaries');
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-dicts-' . getmypid();
@mkdir($dir, 0755);
@mkdir("$dir/damaged", 0755);
register_shutdown_function(function () use ($dir) {
    foreach (glob("$dir/damaged/*") ?: [] as $f) unlink($f);
    @rmdir("$dir/damaged");
    foreach (glob("$dir/*") ?: [] as $f) unlink($f);
    @rmdir($dir);
});
// The CLI built beside the module under test.
$ext = '';
if (preg_match('/extension=(\S+sessionkit\.so)/', getenv('TEST_PHP_EXTRA_ARGS'), $m)) $ext = $m[1];
$cli = getenv('SK_CLI') ?: dirname($ext, 2) . '/tools/sessionkit';

// A shop's session for user $n: a different customer, token and cart each.
function shop(int $n): array {
    mt_srand($n);
    $names = ['Alex', 'Maria', 'Jonas', 'Aiko', 'Femi', 'Lucia', 'Noor', 'Sven'];
    $products = ['Organic cotton T-shirt', 'Merino wool socks', 'Canvas tote bag',
                 'Running shoes Aero 2', 'Leather card holder', 'Yoga mat 6 mm'];
    $cart = [];
    for ($i = 0, $lines = mt_rand(5, 25); $i < $lines; $i++) {
        $cart[] = ['sku' => sprintf('SKU-%08x', mt_rand()), 'name' => $products[mt_rand(0, 5)],
                   'qty' => mt_rand(1, 4), 'price' => mt_rand(5, 200) + 0.99];
    }
    $csrf = '';
    for ($i = 0; $i < 8; $i++) $csrf .= sprintf('%08x', mt_rand());
    return ['csrf' => $csrf,
            'customer' => ['id' => mt_rand(10000, 99999), 'name' => $names[mt_rand(0, 7)],
                           'currency' => 'EUR'],
            'flash' => ['Your cart was updated.'], 'cart' => $cart];
}

// 40 users' sessions, stored raw: what the dictionary is trained on.
for ($n = 0; $n < 40; $n++) {
    session_id(sprintf('dictsample%022d', $n));
    session_start();
    $_SESSION = shop($n);
    session_write_close();
}
exec(escapeshellarg($cli) . ' train ' . escapeshellarg($path) . ' --out ' . escapeshellarg($dir)
     . ' --dict-size 8192 2>&1', $out, $rc);
echo "train: exit $rc\n", implode("\n", array_slice($out, 0, 1)), "\n";
echo 'files: ', implode(' ', array_map('basename', glob("$dir/*.dict"))), "\n";

// Runs $code in another PHP process with session $id started under the
// dictionary directory $dicts ('' for none) and zstd from 256 bytes up.
function child(string $path, string $dicts, string $code): void {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.use_strict_mode=0'
        . ' -d sessionkit.compression=zstd -d sessionkit.compression_threshold=256'
        . ' -d ' . escapeshellarg("sessionkit.dictionaries=$dicts")
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id("dictsessionnew0123456789abcdef");'
            . ' var_dump(session_start()); ' . $code)
        . ' 2>&1';
    echo trim(shell_exec($cmd)), "\n";
}
$digest = md5(serialize(shop(1000)));
$show = 'echo "read: ", md5(serialize($_SESSION["shop"] ?? null)) === "' . $digest
    . '" ? "the shop session" : json_encode($_SESSION ?? null), "\n";';

echo "-- written with dictionary 1\n";
child($path, $dir, '$_SESSION["shop"] = unserialize(' . var_export(serialize(shop(1000)), true) . ');');
child($path, $dir, $show);
echo "-- without the dictionary directory: empty, not overwritten\n";
child($path, '', $show . ' $_SESSION["lost"] = 1;');
child($path, $dir, $show);
echo "-- a damaged dictionary file\n";
file_put_contents("$dir/damaged/1.dict", substr(file_get_contents("$dir/1.dict"), 0, 500));
child($path, "$dir/damaged", $show);
?>
--EXPECTF--
train: exit 0
trained dictionary 1 (%d bytes) on 40 of 40 sessions read from lmdb://%s
files: 1.dict
-- written with dictionary 1
bool(true)
bool(true)
read: the shop session
-- without the dictionary directory: empty, not overwritten
Warning: session_start(): sessionkit: lmdb://%s: session dictse...: zstd payload needs dictionary 1, but no dictionary directory is set (sessionkit.dictionaries); the stored value is left as it is, and this request reads an empty session whose changes will not be saved in Command line code on line 1
bool(true)
read: []
%A
bool(true)
read: the shop session
-- a damaged dictionary file
Warning: session_start(): sessionkit: session.save_path "lmdb://%s" with sessionkit.dictionaries is not usable: sessionkit.dictionaries: dictionary file %s/damaged/1.dict is damaged or not one sessionkit wrote: it does not end with its SKD1 trailer (truncated, or not from sessionkit train) in Command line code on line 1

Warning: session_start(): Failed to initialize storage module: %s
bool(false)
read: null
