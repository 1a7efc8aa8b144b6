--TEST--
sessionkit: with session.lazy_write an unchanged session is touched (lifetime extended), not rewritten
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.gc_maxlifetime=3
session.lazy_write=1
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('lazy');

// Runs $code in another PHP process with session $id started. The tests
// below change a session under a request that holds it, which the session
// lock exists to prevent: both sides run without it (lock_wait.phpt tests
// the lock).
function child(string $path, string $id, string $code): void {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d sessionkit.locking=0'
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg("session_id(\$argv[1]); session_start(); $code")
        . ' ' . escapeshellarg($id) . ' 2>&1';
    echo shell_exec($cmd);
}

function create(array $data): string {
    session_id('');  // an empty id makes session_start() create one
    session_start();
    $_SESSION = $data;
    $id = session_id();
    session_write_close();
    return $id;
}

function peek(string $id): array {
    session_id($id);
    session_start(['read_and_close' => true]);
    return $_SESSION;
}

// 1. The touch moves the expiry: both sessions expire 3 s after t0; the
//    touched one (at t0 + 1.5 s) lives on until t0 + 4.5 s.
$t0 = microtime(true);
$touched = create(['a' => 1]);
$control = create(['a' => 1]);
usleep(1500000);
session_id($touched);
session_start();          // read, leave unchanged
session_write_close();    // lazy write: update_timestamp
usleep((int) (($t0 + 3.75 - microtime(true)) * 1e6));
echo "touched: "; var_dump(peek($touched));
echo "control: "; var_dump(peek($control));

// 2. The touch does not rewrite: another process changes the session while
//    this request holds an unchanged copy; the change survives.
ini_set('sessionkit.locking', '0');
$id = create(['a' => 1]);
session_id($id);
session_start();
child($path, $id, '$_SESSION["a"] = 2; session_write_close();');
session_write_close();
echo "lazy: "; var_dump(peek($id)['a']);

//    Without lazy_write the same sequence rewrites the stale copy.
ini_set('session.lazy_write', '0');
$id = create(['a' => 1]);
session_id($id);
session_start();
child($path, $id, '$_SESSION["a"] = 2; session_write_close();');
session_write_close();
echo "eager: "; var_dump(peek($id)['a']);
ini_set('session.lazy_write', '1');

// 3. A changed session is still written.
session_id($id);
session_start();
$_SESSION['a'] = 3;
session_write_close();
echo "changed: "; var_dump(peek($id)['a']);

// 4. A session destroyed meanwhile (a logout in another tab) stays
//    destroyed: this request read it without its lock (locking off), and
//    its touch does not store it again.
$id = create(['a' => 1]);
session_id($id);
session_start();
child($path, $id, 'session_destroy();');
session_write_close();
echo "after a logout: "; var_dump(peek($id)['a'] ?? null);
?>
--EXPECT--
touched: array(1) {
  ["a"]=>
  int(1)
}
control: array(0) {
}
lazy: int(2)
eager: int(1)
changed: int(3)
after a logout: NULL
