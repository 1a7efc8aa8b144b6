<?php
// Where php-memcached (through libmemcached) puts session keys, for
// ketama_compat_test.cc. Prints one line per key of KEYS_FILE: the index,
// in SERVERS, of the server that holds (or would hold) the key.
//
//   php ketama_compat.php lookup ketama|ketama_weighted SERVERS KEYS_FILE
//     Memcached::getServerByKey() on a client configured as the session
//     handler configures its own (php_memcached_session.c,
//     s_configure_from_ini_values): servers pushed first, then binary
//     protocol, TCP_NODELAY, the consistent-hash behaviour, the prefix as
//     libmemcached namespace. No server needs to run.
//   php ketama_compat.php session ketama|ketama_weighted SERVERS KEYS_FILE
//     Writes each key as a session id through the session handler itself
//     (session.save_handler=memcached), then asks every server which of
//     the keys it holds. The servers must run.
//
// SERVERS is a session.save_path: "host:port[:weight],...".

const PREFIX = 'memc.sess.key.';

[, $what, $hash_type, $save_path, $keys_file] = $argv;
$keys = file($keys_file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
$servers = [];
foreach (explode(',', $save_path) as $entry) {
    $parts = explode(':', $entry);
    $servers[] = [$parts[0], (int) $parts[1], (int) ($parts[2] ?? 0)];
}
$index_of = [];
foreach ($servers as $i => [$host, $port]) {
    $index_of["$host:$port"] = $i;
}

function fail(string $message): never {
    fwrite(STDERR, "ketama_compat.php: $message\n");
    exit(1);
}

if ($what === 'lookup') {
    $m = new Memcached();
    $m->addServers($servers);
    $m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
    $m->setOption(Memcached::OPT_TCP_NODELAY, true);
    // MEMCACHED_BEHAVIOR_KETAMA (3) has no class constant; setOption hands
    // unknown numbers to memcached_behavior_set, as the handler does.
    $behavior = $hash_type === 'ketama' ? 3 : Memcached::OPT_LIBKETAMA_COMPATIBLE;
    if (!$m->setOption($behavior, 1)) fail("setOption($behavior) refused");
    $m->setOption(Memcached::OPT_PREFIX_KEY, PREFIX);
    foreach ($keys as $key) {
        $s = $m->getServerByKey($key);
        if ($s === false) fail("getServerByKey($key): " . $m->getResultMessage());
        echo $index_of["{$s['host']}:{$s['port']}"] ?? fail("unknown server {$s['host']}:{$s['port']}"), "\n";
    }
    exit(0);
}

if ($what !== 'session') fail("unknown mode $what");
ini_set('session.save_handler', 'memcached');
ini_set('session.save_path', $save_path);
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
ini_set('memcached.sess_consistent_hash', '1');
ini_set('memcached.sess_consistent_hash_type', $hash_type);
ini_set('memcached.sess_prefix', PREFIX);
foreach ($keys as $key) {
    session_id($key);
    if (!session_start()) fail("session_start($key) failed");
    $_SESSION['n'] = 1;
    if (!session_write_close()) fail("session_write_close($key) failed");
}
$holder = array_fill(0, count($keys), -1);
$position = array_flip($keys);
foreach ($servers as $i => [$host, $port]) {
    $one = new Memcached();
    $one->addServer($host, $port);
    $found = $one->getMulti(array_map(fn ($k) => PREFIX . $k, $keys));
    if ($found === false) fail("getMulti on $host:$port: " . $one->getResultMessage());
    foreach (array_keys($found) as $full_key) {
        $key = substr($full_key, strlen(PREFIX));
        if ($holder[$position[$key]] !== -1) fail("$key is on two servers");
        $holder[$position[$key]] = $i;
    }
}
echo implode("\n", $holder), "\n";
