--TEST--
sessionkit: with sessionkit.hash_ids=1 sessions work across requests, regenerate and destroy, strict mode refuses unknown ids, and the store holds no session id; without a hash line in sessionkit.keys the session does not start
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
if (!function_exists('sodium_crypto_generichash')) die('skip needs sodium');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('hash_ids');
$lmdb = substr($path, strlen('lmdb://'));
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-hash-ids-' . getmypid();
@mkdir($dir, 0700);
register_shutdown_function(function () use ($dir) {
    foreach (glob("$dir/*") ?: [] as $f) unlink($f);
    @rmdir($dir);
});

function key_file(string $dir, string $name, string $text): string {
    $file = "$dir/$name";
    file_put_contents($file, $text);
    chmod($file, 0600);
    return $file;
}
$secret = random_bytes(32);
$keys = key_file($dir, 'keys', '1 ' . bin2hex(random_bytes(32)) . "\nhash " . bin2hex($secret) . "\n");
$no_hash = key_file($dir, 'no-hash', '1 ' . bin2hex(random_bytes(32)) . "\n");

// Runs $code in another PHP process (one request) with strict mode and
// hash_ids on; returns what it printed, warnings included.
function request(string $path, string $keys, string $code, string $hash_ids = '1'): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.use_strict_mode=1'
        . ' -d session.sid_length=32 -d session.sid_bits_per_character=5'
        . ' -d sessionkit.regenerate_grace=0'
        . ' -d ' . escapeshellarg("sessionkit.hash_ids=$hash_ids")
        . ' -d ' . escapeshellarg("sessionkit.keys=$keys")
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    return trim(shell_exec($cmd));
}

echo "-- a new session\n";
$id = request($path, $keys, 'session_start(); $_SESSION["user"] = "alice"; echo session_id();');
var_dump((bool) preg_match('/^[0-9a-v]{32}$/', $id));
echo "-- the next request finds it\n";
echo request($path, $keys, "session_id('$id'); session_start(); echo json_encode(session_id() === '$id'), ' ', json_encode(\$_SESSION), \"\\n\"; \$_SESSION['n'] = 1;"), "\n";
echo request($path, $keys, "session_id('$id'); session_start(); echo json_encode(\$_SESSION), \"\\n\";"), "\n";
echo "-- the store holds no id, and the session under its hash\n";
$raw = file_get_contents("$lmdb/data.mdb");
$key = bin2hex(sodium_crypto_generichash($id, $secret, 32));
var_dump(str_contains($raw, $id), str_contains($raw, $key), str_contains($raw, 'alice'));
echo "-- regenerate: the new id has the session, the old one is gone\n";
$new = request($path, $keys, "session_id('$id'); session_start(); session_regenerate_id(true); \$_SESSION['n'] = 2; echo session_id();");
var_dump($new !== $id, (bool) preg_match('/^[0-9a-v]{32}$/', $new));
echo request($path, $keys, "session_id('$new'); session_start(); echo json_encode(session_id() === '$new'), ' ', json_encode(\$_SESSION), \"\\n\";"), "\n";
echo request($path, $keys, "session_id('$id'); session_start(); echo json_encode(session_id() === '$id'), ' ', json_encode(\$_SESSION), \"\\n\";"), "\n";
echo "-- a stored key given as an id is unknown\n";
echo request($path, $keys, "session_id('$key'); session_start(); echo json_encode(session_id() === '$key'), ' ', json_encode(\$_SESSION), \"\\n\";"), "\n";
echo "-- an id nobody was given is refused\n";
echo request($path, $keys, "session_id('attackerchosenid0123456789abcdef'); session_start(); echo json_encode(session_id() === 'attackerchosenid0123456789abcdef'), ' ', json_encode(\$_SESSION), \"\\n\";"), "\n";
echo "-- destroy\n";
echo request($path, $keys, "session_id('$new'); session_start(); var_dump(session_destroy());"), "\n";
echo request($path, $keys, "session_id('$new'); session_start(); echo json_encode(session_id() === '$new'), ' ', json_encode(\$_SESSION), \"\\n\";"), "\n";
$raw = '';
foreach (glob("$lmdb/*") as $f) $raw .= file_get_contents($f);
var_dump(str_contains($raw, $id), str_contains($raw, $new));
echo "-- without hash_ids the hashed sessions are not found\n";
$other = request($path, $keys, 'session_start(); $_SESSION["v"] = 3; echo session_id();');
echo request($path, $keys, "session_id('$other'); session_start(); echo json_encode(session_id() === '$other'), \"\\n\";", '0'), "\n";
echo "-- hash_ids without a hash line, or without a key file\n";
echo request($path, $no_hash, 'var_dump(session_start());'), "\n";
echo request($path, '', 'var_dump(session_start());'), "\n";
?>
--EXPECTF--
-- a new session
bool(true)
-- the next request finds it
true {"user":"alice"}
{"user":"alice","n":1}
-- the store holds no id, and the session under its hash
bool(false)
bool(true)
bool(false)
-- regenerate: the new id has the session, the old one is gone
bool(true)
bool(true)
true {"user":"alice","n":2}
false []
-- a stored key given as an id is unknown
false []
-- an id nobody was given is refused
false []
-- destroy
bool(true)
false []
bool(false)
bool(false)
-- without hash_ids the hashed sessions are not found
false
-- hash_ids without a hash line, or without a key file
Warning: session_start(): sessionkit: session.save_path "lmdb://%s" with sessionkit.keys, sessionkit.hash_ids is not usable: session ids are to be hashed (sessionkit.hash_ids) but key file %s/no-hash (sessionkit.keys) has no hash line: add one with "sessionkit keys add --hash %s/no-hash" on one host and copy the file to every host, or turn sessionkit.hash_ids off in Command line code on line 1

Warning: session_start(): Failed to initialize storage module: %s
bool(false)
Warning: session_start(): sessionkit: session.save_path "lmdb://%s" with sessionkit.hash_ids is not usable: session ids are to be hashed (sessionkit.hash_ids) but no key file is set (sessionkit.keys): the hash is keyed by the hash line of a key file; create one with "sessionkit keys generate --out FILE" and set sessionkit.keys to it, or turn sessionkit.hash_ids off in Command line code on line 1

Warning: session_start(): Failed to initialize storage module: %s
bool(false)
