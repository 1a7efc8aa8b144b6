--TEST--
sessionkit: sessions by user with sessionkit.hash_ids=1: with an encrypting key file the ids are listed, with a hash line only the stored keys are (64 hex digits), and destroy_user works either way
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
require 'store.inc';
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-users-hash-' . getmypid();
@mkdir($dir, 0700);
register_shutdown_function(function () use ($dir) {
    foreach (glob("$dir/*") ?: [] as $f) unlink($f);
    @rmdir($dir);
});
$hash = 'hash ' . bin2hex(random_bytes(32)) . "\n";
$files = [
    'encrypted' => [$hash . '1 ' . bin2hex(random_bytes(32)) . "\n", sk_test_store('users_hash_enc')],
    'hash line only' => [$hash, sk_test_store('users_hash_only')],
];

function request(string $path, string $keys, string $code): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.gc_probability=0 -d sessionkit.hash_ids=1'
        . ' -d ' . escapeshellarg("sessionkit.keys=$keys")
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    return trim((string) shell_exec($cmd));
}

foreach ($files as $name => [$text, $path]) {
    echo "-- $name\n";
    $keys = "$dir/" . str_replace(' ', '-', $name);
    file_put_contents($keys, $text);
    chmod($keys, 0600);
    for ($i = 0; $i < 3; $i++) {
        echo request($path, $keys, "session_id('uhash$i-abcdefghijklmnop'); session_start();"
            . " \$_SESSION['n'] = $i; var_export(sessionkit_set_user('ida'));"), ' ';
    }
    echo "\n", request($path, $keys, '$l = sessionkit_user_sessions("ida"); sort($l);'
        . ' foreach ($l as $id) echo preg_match("/^[0-9a-f]{64}$/", $id) ? "stored key" : $id, "\n";'), "\n";
    echo request($path, $keys, "session_id('uhash1-abcdefghijklmnop'); session_start();"
        . " var_dump(sessionkit_destroy_user('ida')); session_write_close();"
        . ' echo count(sessionkit_user_sessions("ida"));'), "\n";
}
?>
--EXPECT--
-- encrypted
true true true 
uhash0-abcdefghijklmnop
uhash1-abcdefghijklmnop
uhash2-abcdefghijklmnop
int(2)
1
-- hash line only
true true true 
stored key
stored key
stored key
int(2)
1
