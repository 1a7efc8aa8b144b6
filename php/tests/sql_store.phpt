--TEST--
sessionkit on MariaDB and PostgreSQL: the shared schema (session and lock tables), one row per session with expiry and update times in ms and a version +1 per write, destroy removing both rows; a wrong password, an unknown database, a server that is down, a silent listener and a table of other columns each fail session_start() with a warning naming the store, never the password, within the timeout
--EXTENSIONS--
sessionkit
--SKIPIF--
<?php
require 'store.inc';
if (!in_array(sk_test_store_kind(), ['mysql', 'postgres'], true)) die('skip SQL runs only');
?>
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.gc_maxlifetime=600
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('sqlstore');
$table = sk_test_sql_table($path);
$pdo = sk_test_sql_pdo($path);
$mysql = sk_test_store_kind() === 'mysql';
$url = parse_url($path);
$password = urldecode($url['pass']);
$quote = fn (string $name) => sk_test_sql_quote($path, $name);
$now_ms = fn () => (int) round(microtime(true) * 1000);

function columns(PDO $pdo, bool $mysql, string $table): array {
    $q = $pdo->prepare('SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = ' .
                       ($mysql ? 'DATABASE()' : 'current_schema()'));
    $q->execute([$table]);
    return array_map('strtolower', $q->fetchAll(PDO::FETCH_COLUMN));
}

function row(PDO $pdo, string $sql, string $id): array {
    $q = $pdo->prepare($sql);
    $q->execute([$id]);
    return $q->fetchAll(PDO::FETCH_ASSOC);
}

echo "-- schema and rows\n";
$before = $now_ms();
session_start();
$_SESSION['user'] = 'carol';
$id = session_id();
// The lock is held: its row names this session, with a lease ahead and the
// holder's server session.
$locks = row($pdo, "SELECT id, owner, lease_until, conn FROM {$quote($table . '_locks')} WHERE id = ?", $id);
var_dump(count($locks) === 1 && $locks[0]['owner'] !== '' && (int) $locks[0]['lease_until'] > $now_ms()
         && (int) $locks[0]['conn'] > 0);
session_write_close();
$after = $now_ms();
var_dump(array_diff(['id', 'data', 'expires_at', 'updated_at', 'version', 'user_id'],
                    columns($pdo, $mysql, $table)));
var_dump(array_diff(['id', 'owner', 'lease_until', 'conn', 'keep_until', 'waiters'],
                    columns($pdo, $mysql, $table . '_locks')));
$select = "SELECT id, data, expires_at, updated_at, version, user_id FROM {$quote($table)} WHERE id = ?";
$rows = row($pdo, $select, $id);
var_dump(count($rows));
$r = $rows[0];
$data = is_resource($r['data']) ? stream_get_contents($r['data']) : $r['data'];
var_dump($r['id'] === $id, str_contains($data, 'carol'), $r['user_id']);
// Milliseconds since the epoch: gc_maxlifetime (600 s) ahead of the write.
var_dump((int) $r['expires_at'] >= $before + 600000 - 2000 && (int) $r['expires_at'] <= $after + 600000 + 2000);
var_dump((int) $r['updated_at'] >= $before - 2000 && (int) $r['updated_at'] <= $after + 2000);
$version = (int) $r['version'];
var_dump($version >= 1);

echo "-- every write adds 1 to version\n";
session_id($id);
session_start();
$_SESSION['n'] = 1;
session_write_close();
var_dump((int) row($pdo, $select, $id)[0]['version'] === $version + 1);

echo "-- destroy removes the session and its lock row\n";
session_id($id);
session_start();
var_dump(session_destroy());
var_dump(count(row($pdo, $select, $id)));
var_dump(count(row($pdo, "SELECT id FROM {$quote($table . '_locks')} WHERE id = ?", $id)));

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});

// Starts a session on $try: fails, within a second, with sessionkit's
// warning naming $named, and no password of any URL in it.
function attempt(string $try, string $named): void {
    global $warnings, $password;
    $warnings = [];
    ini_set('session.save_path', $try);
    session_id('abcdefghijklmnopqrstuvwxyz012345');
    $t = microtime(true);
    $started = session_start();
    $elapsed = microtime(true) - $t;
    $ours = implode("\n", array_filter($warnings, fn ($w) => str_contains($w, 'sessionkit:')));
    echo "started: ", var_export($started, true), ", in time: ", var_export($elapsed < 1.0, true),
         ", names it: ", var_export(str_contains($ours, $named), true),
         ", password shown: ", var_export(str_contains($ours, $password) || str_contains($ours, 'wrongpw123'), true), "\n";
    if ($ours === '') echo "  no sessionkit warning\n";
}

$scheme = $mysql ? 'mysql' : 'postgres';
$server = "{$url['host']}:{$url['port']}";
$quick = 'connect_timeout=100ms&read_timeout=100ms';

echo "-- wrong password\n";
attempt("$scheme://{$url['user']}:wrongpw123@$server{$url['path']}?table=$table&$quick", $server);

echo "-- unknown database\n";
attempt("$scheme://{$url['user']}:$password@$server/sk_nosuchdb?table=$table&$quick", 'sk_nosuchdb');

echo "-- server down\n";
$s = stream_socket_server('tcp://127.0.0.1:0');
$closed = explode(':', stream_socket_get_name($s, false))[1];
fclose($s);
attempt("$scheme://{$url['user']}:$password@127.0.0.1:$closed{$url['path']}?table=$table&$quick", "127.0.0.1:$closed");

echo "-- a listener that never answers\n";
$silent = stream_socket_server('tcp://127.0.0.1:0');
$silent_port = explode(':', stream_socket_get_name($silent, false))[1];
attempt("$scheme://{$url['user']}:$password@127.0.0.1:$silent_port{$url['path']}?table=$table&$quick",
        "127.0.0.1:$silent_port");

echo "-- a table of other columns\n";
$odd = $table . '_odd';
$pdo->exec("CREATE TABLE {$quote($odd)} (id VARCHAR(256) PRIMARY KEY, payload " .
           ($mysql ? 'LONGBLOB' : 'BYTEA') . ')');
attempt("$scheme://{$url['user']}:$password@$server{$url['path']}?table=$odd&$quick", $odd);

echo "-- the good store still works afterwards\n";
$warnings = [];
ini_set('session.save_path', $path);
session_id('');
var_dump(session_start());
$_SESSION['x'] = 1;
var_dump(session_write_close(), $warnings);
?>
--EXPECT--
-- schema and rows
bool(true)
array(0) {
}
array(0) {
}
int(1)
bool(true)
bool(true)
NULL
bool(true)
bool(true)
bool(true)
-- every write adds 1 to version
bool(true)
-- destroy removes the session and its lock row
bool(true)
int(0)
int(0)
-- wrong password
started: false, in time: true, names it: true, password shown: false
-- unknown database
started: false, in time: true, names it: true, password shown: false
-- server down
started: false, in time: true, names it: true, password shown: false
-- a listener that never answers
started: false, in time: true, names it: true, password shown: false
-- a table of other columns
started: false, in time: true, names it: true, password shown: false
-- the good store still works afterwards
bool(true)
bool(true)
array(0) {
}
