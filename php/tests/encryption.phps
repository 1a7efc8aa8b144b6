<?php
ob_start();
require 'store.inc';
$path = sk_test_store('encryption');
$lmdb = substr($path, strlen('lmdb://'));
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-keys-' . getmypid();
@mkdir($dir, 0700);
register_shutdown_function(function () use ($dir) {
    foreach (glob("$dir/*") ?: [] as $f) unlink($f);
    @rmdir($dir);
});

// A key file $name holding $text, of mode $mode.
function key_file(string $dir, string $name, string $text, int $mode = 0600): string {
    $file = "$dir/$name";
    file_put_contents($file, $text);
    chmod($file, $mode);
    return $file;
}
$key1 = '1 ' . str_repeat('ab', 32) . "\n";
$ring1 = key_file($dir, 'ring1', "# the first key\n$key1");
$ring21 = key_file($dir, 'ring21', '2 ' . str_repeat('CD', 32) . "\n$key1");
$wrong = key_file($dir, 'wrong', '1 ' . str_repeat('ef', 32) . "\n");
$shared = key_file($dir, 'shared', $key1, 0640);

// Runs $code in another PHP process with session $id started under key
// file $keys ('' for none); prints what it printed, warnings included.
function child(string $path, string $keys, string $code): void {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.use_strict_mode=0'
        . ' -d ' . escapeshellarg("sessionkit.keys=$keys")
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id("encryptedsession0123456789abcdef");'
            . ' var_dump(session_start()); ' . $code)
        . ' 2>&1';
    echo trim(shell_exec($cmd)), "\n";
}
$show = 'echo "read: ", json_encode($_SESSION ?? null), "\n";';

echo "-- written under key 1\n";
child($path, $ring1, '$_SESSION["card"] = "4242 secret"; ' . $show);
$raw = '';
foreach (glob("$lmdb/*") as $f) $raw .= file_get_contents($f);
echo 'in the store in the clear: ', str_contains($raw, '4242 secret') ? 'yes' : 'no', "\n";
child($path, $ring1, $show);
echo "-- another key of id 1\n";
child($path, $wrong, $show . ' $_SESSION["x"] = 1;');
echo "-- no key file\n";
child($path, '', $show);
echo "-- rotated: key 2 first, key 1 still reads; the write is under key 2\n";
child($path, $ring21, $show . ' $_SESSION["rotated"] = true;');
child($path, $ring21, $show);
echo "-- key 2 unknown to the old ring\n";
child($path, $ring1, $show);
echo "-- an altered value\n";
$files = glob("$lmdb/data.mdb");
$data = file_get_contents($files[0]);
// Every copy LMDB keeps of the frame (its pages are copy-on-write): one
// bit of the ciphertext flipped.
$header = "\x9FK\x02\x00\x00\x00\x00\x02";
for ($at = strpos($data, $header); $at !== false; $at = strpos($data, $header, $at + 1)) {
    $data[$at + 40] = chr(ord($data[$at + 40]) ^ 1);
}
file_put_contents($files[0], $data);
child($path, $ring21, $show);
echo "-- a key file its group can read\n";
child($path, $shared, $show);
?>
