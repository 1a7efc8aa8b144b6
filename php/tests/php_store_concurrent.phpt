--TEST--
sessionkit: concurrent increments of one session from 4 worker processes on a store written in PHP with an atomic add (APCu's apcu_add, shared by the built-in server's workers) lose none; a registration does not outlive its request in a worker
--EXTENSIONS--
sessionkit
apcu
--SKIPIF--
<?php
require 'store.inc';
if (sk_test_store_kind() !== 'lmdb') die('skip LMDB run only');
?>
--INI--
session.save_handler=sessionkit
--FILE--
<?php
$workers = 4;
$per_client = 25;
$dir = (getenv('SK_TEST_TMPDIR') ?: sys_get_temp_dir()) . '/phpt-php-store-concurrent-' . getmypid();
@mkdir($dir, 0700, true);
register_shutdown_function(fn () => exec('rm -rf ' . escapeshellarg($dir)));
file_put_contents("$dir/router.php", <<<'PHP'
<?php
require 'php_store.inc';
if (!isset($_GET['unregistered'])) sessionkit_register_store('apcu', new ApcuStore());
session_id($_GET['id']);
if (!session_start()) {
    http_response_code(500);
    echo error_get_last()['message'] ?? 'no warning';
    exit;
}
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
usleep(200); // widen the window a lost update would need
echo $_SESSION['n'];
PHP);

// A free port: bound to 0 by the kernel, then released for the server.
$probe = stream_socket_server('tcp://127.0.0.1:0');
$port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
fclose($probe);

$php = getenv('TEST_PHP_EXECUTABLE');
// "exec": the shell becomes the server, whose PID proc_open then holds.
$cmd = 'exec ' . $php . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
    . ' -d ' . escapeshellarg('include_path=' . get_include_path())
    . ' -d session.save_handler=sessionkit -d session.save_path=php://apcu'
    . ' -d session.use_cookies=0 -d session.cache_limiter= -d session.gc_probability=0'
    . ' -d sessionkit.lock_wait_ms=10000'
    . " -S 127.0.0.1:$port " . escapeshellarg("$dir/router.php");
$server = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['file', "$dir/server.log", 'a'],
    2 => ['file', "$dir/server.log", 'a']], $pipes, $dir,
    array_merge(getenv(), ['PHP_CLI_SERVER_WORKERS' => (string) $workers]));
// Stopped by its PID (the shell exec-ed php); the server stops its
// workers.
register_shutdown_function(function () use ($server) {
    proc_terminate($server);
    proc_close($server);
});
$url = "http://127.0.0.1:$port/?id=conc" . bin2hex(random_bytes(12));
for ($i = 0; $i < 100 && @file_get_contents("http://127.0.0.1:$port/?id=warmup") === false; $i++) {
    usleep(50000);
}

// $workers clients at once, each $per_client increments one after another.
$clients = [];
for ($c = 0; $c < $workers; $c++) {
    $code = 'for ($i = 0; $i < ' . $per_client . '; $i++) { if (@file_get_contents('
        . var_export($url, true) . ') === false) echo "failed "; }';
    $clients[] = proc_open([$php, '-n', '-r', $code], [1 => ['pipe', 'w']], $p);
    $outs[] = $p[1];
}
foreach ($clients as $c => $client) {
    echo stream_get_contents($outs[$c]);
    proc_close($client);
}
$n = (int) file_get_contents($url);
echo "increments: ", $n - 1, " of ", $workers * $per_client, "\n";

// Every worker served registered requests above; a request that registers
// nothing finds no store, in whichever worker it lands.
$refused = 0;
$context = stream_context_create(['http' => ['ignore_errors' => true]]);
for ($i = 0; $i < 3 * $workers; $i++) {
    $body = file_get_contents("$url&unregistered=1", false, $context);
    if (str_contains($body, 'php://apcu: no store registered under this name')) $refused++;
    else echo "unexpected: $body\n";
}
echo "unregistered requests refused: $refused of ", 3 * $workers, "\n";
?>
--EXPECT--
increments: 100 of 100
unregistered requests refused: 12 of 12
