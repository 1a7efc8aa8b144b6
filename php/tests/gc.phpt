--TEST--
sessionkit: session_gc() removes expired sessions and returns how many
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
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-gc-' . getmypid();
register_shutdown_function(function () use ($dir) {
    foreach (glob("$dir/*") ?: [] as $f) unlink($f);
    @rmdir($dir);
});
ini_set('session.save_path', "lmdb://$dir");

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

session_id($long[0]);
session_start();
var_dump(session_gc());
var_dump(session_gc());
session_write_close();

foreach (array_merge($short, $long) as $id) {
    session_id($id);
    session_start(['read_and_close' => true]);
    echo $_SESSION['v'] ?? 'gone', "\n";
}
?>
--EXPECT--
int(3)
int(0)
gone
gone
gone
600
600
