--TEST--
sessionkit: a store written in PHP that throws or returns false: a warning naming the store and the method, session_start() returns false, nothing crashes, and the next session_start() works once the store recovers
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
session.save_path=php://flaky
session.use_cookies=0
session.use_strict_mode=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'php_store.inc';

class FlakyStore extends ArrayStore
{
    public string $broken = '';   // the method that fails
    public string $how = 'throw'; // throw, false, or a wrong type

    private function fail(string $method): mixed
    {
        if ($this->broken !== $method) return null;
        if ($this->how === 'throw') throw new RuntimeException("$method: backend down");
        return $this->how === 'false' ? false : 42;
    }

    public function get(string $key): ?string
    {
        if ($this->broken === 'get') $this->fail('get');
        return parent::get($key);
    }

    public function set(string $key, string $value, int $ttl): bool
    {
        $r = $this->fail('set');
        return $r === null ? parent::set($key, $value, $ttl) : $r;
    }

    public function add(string $key, string $value, int $ttl): bool
    {
        $this->fail('add');
        return parent::add($key, $value, $ttl);
    }
}

$store = new FlakyStore();
sessionkit_register_store('flaky', $store);
$id = 'flaky' . bin2hex(random_bytes(12));

echo "-- add throws\n";
$store->broken = 'add';
session_id($id);
var_dump(session_start());
var_dump(session_status() === PHP_SESSION_NONE);

echo "-- it recovers\n";
$store->broken = '';
session_id($id);
var_dump(session_start());
$_SESSION['n'] = 1;
var_dump(session_write_close());

echo "-- get throws (after the lock was taken: it is released)\n";
$store->broken = 'get';
session_id($id);
var_dump(session_start());
$store->broken = '';
echo "lock left: ", isset($store->items["$id.lock"]) ? 'yes' : 'no', "\n";

echo "-- set returns false at the write\n";
session_id($id);
var_dump(session_start());
$_SESSION['n'] = 2;
$store->broken = 'set';
$store->how = 'false';
// PHP's session_write_close() returns true after a failed write too.
var_dump(session_write_close());
$store->broken = '';

echo "-- the session kept its last good value\n";
session_id($id);
session_start(['read_and_close' => true]);
var_dump($_SESSION['n']);

echo "-- an exception the script threw before is not lost\n";
try {
    throw new LogicException('the script\'s own');
} catch (LogicException $e) {
    session_id($id);
    var_dump(session_start(['read_and_close' => true]));
    echo $e->getMessage(), "\n";
}
echo "done\n";
?>
--EXPECTF--
-- add throws

Warning: session_start(): sessionkit: %sphp://flaky: lock of session flaky%s: add failed: FlakyStore::add() threw RuntimeException: add: backend down%s
%A
bool(false)
bool(true)
-- it recovers
bool(true)
bool(true)
-- get throws (after the lock was taken: it is released)

Warning: session_start(): sessionkit: %sphp://flaky: lock of session flaky%s: get failed: FlakyStore::get() threw RuntimeException: get: backend down%s
%A
bool(false)
lock left: no
-- set returns false at the write
bool(true)

Warning: session_write_close(): sessionkit: %sphp://flaky: write of session flaky%s: set failed: FlakyStore::set() returned false%s
%A
bool(true)
-- the session kept its last good value
int(1)
-- an exception the script threw before is not lost
bool(true)
the script's own
done
