<?php
// Many PHP processes on one LMDB store at once.
//
// Usage: php multiprocess.php /path/to/sessionkit.so STORE_DIR
//            [PROCESSES=8] [CYCLES=1000]
//
// Each worker process runs CYCLES cycles. A cycle increments counters in the
// worker's own session and in one session of a pool shared by all workers.
// Session locking (on by default) serialises the workers on a shared
// session, so no increment may be lost: every final value, own and shared,
// must be exact. Every tenth cycle also opens a shared session and aborts
// (nothing written, lock released), and the check ends with a regenerate
// that must leave nothing under the old id. Exits 0 when every check holds, 1 otherwise, printing what
// was wrong.

declare(strict_types=1);

const POOL = 4;

function fail(string $msg): never {
    fwrite(STDERR, "FAIL: $msg\n");
    exit(1);
}

function setup(string $dir): void {
    if (!extension_loaded('sessionkit')) fail('the sessionkit extension is not loaded');
    ini_set('session.save_handler', 'sessionkit');
    ini_set('session.save_path', "lmdb://$dir");
    ini_set('session.use_cookies', '0');
    ini_set('session.cache_limiter', '');
    ini_set('session.use_strict_mode', '0');
    ini_set('session.gc_probability', '0');
    ini_set('session.gc_maxlifetime', '600');
    // Any warning (a failed read or write) fails the run.
    set_error_handler(function (int $no, string $msg, string $file, int $line) {
        fail("pid " . getmypid() . ": $msg at $file:$line");
    });
}

function own_id(int $worker): string {
    return sprintf('mpown%03d', $worker) . str_repeat('a', 24);
}

function pool_id(int $slot): string {
    return sprintf('mppool%02d', $slot) . str_repeat('b', 24);
}

function open_session(string $id): void {
    session_id($id);
    if (!session_start()) fail("session_start failed for " . substr($id, 0, 8));
}

function close_session(): void {
    if (!session_write_close()) fail("session_write_close failed");
}

function worker(string $dir, int $worker, int $cycles): void {
    setup($dir);
    for ($i = 0; $i < $cycles; $i++) {
        open_session(own_id($worker));
        $_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
        $_SESSION['sum'] = ($_SESSION['sum'] ?? 0) + $i;
        $_SESSION['last'] = $i;
        $_SESSION['worker'] = $worker;
        // Some bulk so that the values are not tiny.
        $_SESSION['pad'] = str_repeat(chr(ord('a') + $worker), 512 + $i % 200);
        close_session();

        open_session(pool_id(($i + $worker) % POOL));
        $_SESSION['hits'][$worker] = ($_SESSION['hits'][$worker] ?? 0) + 1;
        $_SESSION['total'] = ($_SESSION['total'] ?? 0) + 1;
        close_session();

        if ($i % 10 === 0) {
            // An aborted request writes nothing and must release the lock
            // at once: a lock left held would stall the other workers.
            open_session(pool_id(($i + $worker + 1) % POOL));
            $_SESSION['total'] = -1;
            if (!session_abort()) fail('session_abort failed');
        }
    }
}

// After session_abort() the session's lock is free at once: another
// process that may not wait (lock_wait_ms=0, action fail) gets it while
// this one is still running.
function check_abort_releases(string $extension, string $dir): void {
    open_session(pool_id(0));
    if (!session_abort()) fail('session_abort failed');
    $cmd = [PHP_BINARY, '-d', "extension=$extension",
            '-d', 'sessionkit.lock_wait_ms=0',
            '-d', 'sessionkit.lock_timeout_action=fail',
            __FILE__, '--probe', $dir, pool_id(0)];
    $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => STDOUT,
                          2 => STDERR], $pipes);
    if (!is_resource($p) || proc_close($p) !== 0) {
        fail('another process could not lock a session after session_abort');
    }
}

// session_regenerate_id(true) moves a session to a new id and deletes the
// old one: a later request with the old id finds nothing (with no grace;
// the grace has its own tests: php/tests/regenerate_grace.phpt).
function check_regenerate(int $worker): void {
    ini_set('sessionkit.regenerate_grace', '0');
    $old = own_id($worker);
    open_session($old);
    $count = $_SESSION['count'] ?? null;
    if (!session_regenerate_id(true)) fail('session_regenerate_id failed');
    $new = session_id();
    close_session();
    session_id($old);
    session_start(['read_and_close' => true]);
    if ($_SESSION !== []) fail("worker $worker: the old id still holds a session after regenerate");
    session_id($new);
    session_start(['read_and_close' => true]);
    if (($_SESSION['count'] ?? null) !== $count) fail("worker $worker: the new id lost the data");
}

function check(string $extension, string $dir, int $processes,
               int $cycles): void {
    setup($dir);
    $sum = intdiv($cycles * ($cycles - 1), 2);
    for ($w = 0; $w < $processes; $w++) {
        session_id(own_id($w));
        session_start(['read_and_close' => true]);
        $s = $_SESSION;
        $expect = ['count' => $cycles, 'sum' => $sum, 'last' => $cycles - 1,
                   'worker' => $w];
        foreach ($expect as $key => $value) {
            if (($s[$key] ?? null) !== $value) {
                fail("worker $w: $key is " . var_export($s[$key] ?? null, true)
                     . ", expected $value");
            }
        }
        $pad = str_repeat(chr(ord('a') + $w), 512 + ($cycles - 1) % 200);
        if (($s['pad'] ?? null) !== $pad) fail("worker $w: pad is wrong");
    }
    $grand = 0;
    for ($p = 0; $p < POOL; $p++) {
        session_id(pool_id($p));
        session_start(['read_and_close' => true]);
        $s = $_SESSION;
        if (!is_array($s['hits'] ?? null) || !is_int($s['total'] ?? null)) {
            fail("pool session $p did not decode: " . var_export($s, true));
        }
        // Worker w visits pool session p in the cycles i with
        // (i + w) % POOL == p; each visit must have been counted.
        $total = 0;
        for ($w = 0; $w < $processes; $w++) {
            $expect = intdiv($cycles - (($p - $w) % POOL + POOL) % POOL
                             + POOL - 1, POOL);
            $got = $s['hits'][$w] ?? 0;
            if ($got !== $expect) {
                fail("pool session $p: worker $w has $got hits, expected "
                     . "$expect (a lost update)");
            }
            $total += $expect;
        }
        if ($s['total'] !== $total) {
            fail("pool session $p: total {$s['total']}, expected $total "
                 . "(a lost update)");
        }
        $grand += $s['total'];
    }
    if ($grand !== $processes * $cycles) {
        fail("$grand of " . ($processes * $cycles) . " shared increments");
    }
    check_abort_releases($extension, $dir);
    check_regenerate(0);
    printf("ok: %d processes x %d cycles; own sessions exact; all %d shared "
           . "increments kept; aborts released their locks; regenerate "
           . "removed the old id\n", $processes, $cycles, $grand);
}

// Runs this script in a new PHP process that loads the extension.
function spawn(string $extension, array $args) {
    $cmd = array_merge([PHP_BINARY, '-d', "extension=$extension", __FILE__], $args);
    $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => STDOUT, 2 => STDERR], $pipes);
    if (!is_resource($p)) fail('cannot start ' . implode(' ', $cmd));
    return $p;
}

if (($argv[1] ?? '') === '--worker') {
    worker($argv[2], (int) $argv[3], (int) $argv[4]);
    exit(0);
}
if (($argv[1] ?? '') === '--check') {
    check($argv[5], $argv[2], (int) $argv[3], (int) $argv[4]);
    exit(0);
}
if (($argv[1] ?? '') === '--probe') {
    setup($argv[2]);
    open_session($argv[3]);
    close_session();
    exit(0);
}
if ($argc < 3) {
    fwrite(STDERR, "usage: php multiprocess.php /path/to/sessionkit.so STORE_DIR "
           . "[PROCESSES=8] [CYCLES=1000]\n");
    exit(2);
}
[$extension, $dir] = [$argv[1], $argv[2]];
$processes = (string) (int) ($argv[3] ?? 8);
$cycles = (string) (int) ($argv[4] ?? 1000);

// Start from an empty store.
foreach (glob("$dir/*") ?: [] as $f) unlink($f);
@mkdir($dir, 0700, true);

$start = microtime(true);
$procs = [];
for ($w = 0; $w < (int) $processes; $w++) {
    $procs[$w] = spawn($extension, ['--worker', $dir, (string) $w, $cycles]);
}
$failed = false;
foreach ($procs as $w => $p) {
    $status = proc_close($p);
    if ($status !== 0) {
        fwrite(STDERR, "worker $w exited with status $status\n");
        $failed = true;
    }
}
$elapsed = microtime(true) - $start;
if ($failed) fail('a worker failed');
$total = (int) $processes * (int) $cycles * 2;
printf("%d session cycles by %d processes in %.2f s (%.0f us per cycle per process)\n",
       $total, $processes, $elapsed, $elapsed * 1e6 * (int) $processes / $total);

$status = proc_close(spawn($extension, ['--check', $dir, $processes, $cycles,
                                     $extension]));
foreach (glob("$dir/*") ?: [] as $f) unlink($f);
@rmdir($dir);
exit($status === 0 ? 0 : 1);
