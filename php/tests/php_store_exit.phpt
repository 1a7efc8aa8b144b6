--TEST--
sessionkit: exit() inside a store written in PHP ends the script, as exit() does, instead of being taken for the store's error
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
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
error_reporting=-1
display_errors=1
--FILE--
<?php
// Runs $code in another PHP process; returns what it printed.
function request(string $code, string $ini = ''): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.save_path=php://exiting'
        . ' -d session.use_cookies=0 -d session.cache_limiter= -d session.gc_probability=0 '
        . $ini . ' -d ' . escapeshellarg('include_path=' . get_include_path())
        . ' -r ' . escapeshellarg($code) . ' 2>&1; echo " [exit $?]"';
    return trim((string) shell_exec($cmd));
}
$store = <<<'PHP'
require 'php_store.inc';
class ExitingStore extends ArrayStore {
    public function get(string $key): ?string {
        if (!str_ends_with($key, '.lock')) { echo "get exits\n"; exit(3); }
        return parent::get($key);
    }
}
register_shutdown_function(function () { echo "shutdown ran\n"; });
sessionkit_register_store('exiting', new ExitingStore());
session_id('exiting' . bin2hex(random_bytes(12)));
PHP;
echo "-- exit() in get()\n";
echo request($store . ' var_dump(session_start()); echo "not reached\n";'), "\n";

?>
--EXPECT--
-- exit() in get()
get exits
shutdown ran
 [exit 3]
