--TEST--
sessionkit: with session.auto_start=1 the request holds its session's lock from request start to the write
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
// The session opens before the script runs, so before it can register a
// store written in PHP.
if (sk_test_store_kind() === 'php') die('skip session.auto_start opens the session before a script can register a php:// store');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('autostart');

function php_cmd(string $path, string $ini, string $code, string ...$args): string {
    return getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.use_cookies=0 -d session.gc_probability=0 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code)
        . implode('', array_map(fn ($a) => ' ' . escapeshellarg($a), $args));
}

// Whether another PHP process could take session $id's lock right now.
function other(string $path, string $id): string {
    return trim(shell_exec(php_cmd($path,
        '-d sessionkit.lock_wait_ms=0 -d sessionkit.lock_timeout_action=fail',
        'session_id($argv[1]); echo @session_start() ? "free" : "locked";', $id)
        . ' 2>&1'));
}

// A request whose session PHP opened before the script ran (auto_start):
// it prints its id, waits for a line on stdin, then counts.
$holder = proc_open(php_cmd($path, '-d session.auto_start=1',
    'echo session_id(), "\n"; fgets(STDIN); ' .
    '$_SESSION["n"] = ($_SESSION["n"] ?? 0) + 1; echo "counted\n";'),
    [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
$id = trim(fgets($pipes[1]));
var_dump(strlen($id) >= 22);
echo "while the auto-started request runs: ", other($path, $id), "\n";
fwrite($pipes[0], "go\n");
fclose($pipes[0]);
echo stream_get_contents($pipes[1]);
fclose($pipes[1]);
var_dump(proc_close($holder));
echo "after it ended: ", other($path, $id), "\n";
session_id($id);
var_dump(session_start(['read_and_close' => true]), $_SESSION['n']);
?>
--EXPECT--
bool(true)
while the auto-started request runs: locked
counted
int(0)
after it ended: free
bool(true)
int(1)
