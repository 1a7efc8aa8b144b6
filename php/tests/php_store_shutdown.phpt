--TEST--
sessionkit: a store written in PHP is whole when the session is saved at the end of a script that did not close it: the save runs before the script's objects are destructed, as with session_set_save_handler()
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// The test brings its own store: one run is enough.
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
require 'store.inc';
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-php-store-shutdown-' . getmypid();
@mkdir($dir);
register_shutdown_function(fn () => exec('rm -rf ' . escapeshellarg($dir)));

// One request in another PHP process: a file store whose connection (here
// a flag) its destructor closes; the script leaves the session open.
$code = <<<'PHP'
require 'file_store.inc';
final class ClosingStore extends FileStore {
    private bool $open = true;
    public function __destruct() { $this->open = false; }
    public function set(string $key, string $value, int $ttl): bool {
        if (!$this->open) throw new RuntimeException('set() after the destructor');
        return parent::set($key, $value, $ttl);
    }
    public function add(string $key, string $value, int $ttl): bool {
        if (!$this->open) throw new RuntimeException('add() after the destructor');
        return parent::add($key, $value, $ttl);
    }
    public function delete(string $key): bool {
        if (!$this->open) throw new RuntimeException('delete() after the destructor');
        return parent::delete($key);
    }
}
$store = new ClosingStore(getenv('SK_STORE_DIR'));
sessionkit_register_store('closing', $store);
session_id(getenv('SK_ID'));
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo $_SESSION['n'];
PHP;
function request(string $dir, string $code): string {
    $cmd = 'SK_STORE_DIR=' . escapeshellarg($dir) . ' SK_ID=shutdownabcdefghijklmnopqr '
        . getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.save_path=php://closing'
        . ' -d session.use_cookies=0 -d session.cache_limiter= -d session.gc_probability=0'
        . ' -d ' . escapeshellarg('include_path=' . get_include_path())
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    return trim((string) shell_exec($cmd));
}
echo request($dir, $code), "\n";
echo request($dir, $code), "\n";
echo request($dir, $code), "\n";
?>
--EXPECT--
1
2
3
