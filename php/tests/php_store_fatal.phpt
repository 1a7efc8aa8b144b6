--TEST--
sessionkit: a fatal error inside a store written in PHP ends the script as a fatal error does (raised again once the library has returned), without a crash; shutdown functions still run
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.save_path=php://fatal
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
error_reporting=-1
display_errors=1
--FILE--
<?php
require 'php_store.inc';

class FatalStore extends ArrayStore
{
    public function get(string $key): ?string
    {
        if (!str_ends_with($key, '.lock')) trigger_error('the store died', E_USER_ERROR);
        return parent::get($key);
    }
}

register_shutdown_function(function () {
    echo "shutdown ran\n";
});
sessionkit_register_store('fatal', new FatalStore());
session_id('fatal' . bin2hex(random_bytes(12)));
session_start();
echo "not reached\n";
?>
--EXPECTF--
Fatal error: the store died in %s on line %d
shutdown ran
