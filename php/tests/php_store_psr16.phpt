--TEST--
sessionkit: SessionKit\Psr16Store over Symfony Cache: a session on a FilesystemAdapter survives into another process, keys PSR-16 reserves characters of or that are long are encoded, ApcuAdapter round trips, a non-cache is refused
--EXTENSIONS--
sessionkit
apcu
--SKIPIF--
<?php
require 'store.inc';
require 'php_store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
if (!sk_test_load_symfony_cache()) die('skip php-symfony-cache and php-psr-simple-cache not installed');
?>
--INI--
session.save_handler=sessionkit
session.save_path=php://psr16
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
apc.enable_cli=1
--FILE--
<?php
ob_start();
require 'php_store.inc';
sk_test_load_symfony_cache();
use Symfony\Component\Cache\Adapter\ApcuAdapter;
use Symfony\Component\Cache\Adapter\FilesystemAdapter;
use Symfony\Component\Cache\Psr16Cache;

$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-psr16-' . getmypid();
register_shutdown_function(fn () => exec('rm -rf ' . escapeshellarg($dir)));
$files = new Psr16Cache(new FilesystemAdapter('sessions', 0, $dir));
sessionkit_register_store('psr16', new SessionKit\Psr16Store($files));
$id = 'psr' . bin2hex(random_bytes(12));

echo "-- written here\n";
session_id($id);
var_dump(session_start());
$_SESSION['n'] = 1;
var_dump(session_write_close());
var_dump($files->has("sk.$id"), $files->has("sk.$id.lock"));

echo "-- read, changed and written by another process\n";
$code = <<<'PHP'
require 'php_store.inc';
sk_test_load_symfony_cache();
$files = new Symfony\Component\Cache\Psr16Cache(
    new Symfony\Component\Cache\Adapter\FilesystemAdapter('sessions', 0, $argv[1]));
sessionkit_register_store('psr16', new SessionKit\Psr16Store($files));
session_id($argv[2]);
session_start();
echo "child read n=", $_SESSION['n'], "\n";
$_SESSION['n']++;
PHP;
echo shell_exec(getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
    . ' -d include_path=' . escapeshellarg(get_include_path())
    . ' -d session.save_handler=sessionkit -d session.save_path=php://psr16'
    . ' -d session.use_cookies=0 -d session.cache_limiter= -d session.gc_probability=0'
    . ' -r ' . escapeshellarg($code) . ' ' . escapeshellarg($dir) . ' ' . $id . ' 2>&1');
session_id($id);
session_start(['read_and_close' => true]);
echo "here n=", $_SESSION['n'], "\n";

echo "-- an id with characters PSR-16 does not promise, and a long one\n";
foreach (['psr-with,comma-' . bin2hex(random_bytes(4)), 'long' . str_repeat('x', 200)] as $odd) {
    session_id($odd);
    session_start();
    $_SESSION['odd'] = true;
    session_write_close();
    session_id($odd);
    session_start(['read_and_close' => true]);
    var_dump($_SESSION['odd'] ?? 'missing');
}

echo "-- over APCu\n";
sessionkit_register_store('psr16', new SessionKit\Psr16Store(
    new Psr16Cache(new ApcuAdapter('sk' . getmypid()))));
session_id($id);
var_dump(session_start());
var_dump($_SESSION);
$_SESSION['apcu'] = 'yes';
session_write_close();
session_id($id);
session_start(['read_and_close' => true]);
var_dump($_SESSION['apcu']);

echo "-- not a cache\n";
try {
    new SessionKit\Psr16Store(new ArrayObject());
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
?>
--EXPECT--
-- written here
bool(true)
bool(true)
bool(true)
bool(false)
-- read, changed and written by another process
child read n=1
here n=2
-- an id with characters PSR-16 does not promise, and a long one
bool(true)
bool(true)
-- over APCu
bool(true)
array(0) {
}
string(3) "yes"
-- not a cache
SessionKit\Psr16Store::__construct(): Argument #1 ($cache) must be a PSR-16 cache (Psr\SimpleCache\CacheInterface): ArrayObject has no method get()
