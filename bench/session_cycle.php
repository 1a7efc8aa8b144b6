<?php
// One benchmark run: N PHP session cycles in this process, against whatever
// handler the ini settings select (bench/run passes them with -d).
//
//   php [-d ...] bench/session_cycle.php CYCLES
//
// A cycle is session_id(pool[i % 1000]); session_start(); modify $_SESSION
// (about 2 KB in all: a profile, a cart, a counter); session_write_close().
// A warm-up first creates every session of the pool. Afterwards every
// session is read back and the counters summed, so a handler that drops
// writes fails the run instead of looking fast.
//
// Prints one line: "cycles=N ns=T payload_bytes=B", then
// "warmup_cycles=W". Nothing may be printed
// before that: in the CLI, output counts as sent headers and would stop
// session_start().
//
// With SK_BENCH_REDIS=HOST:PORT (the Redis server the handler uses) it also
// reads INFO from that server right before and after the timed cycles and
// prints what those cycles cost the server, the INFO exchanges themselves
// left out:
//   "redis connections=C round_trips=R commands=GET:n,SET:n,..."
// round_trips counts the server's reply writes (total_writes_processed):
// one per request, or per pipelined batch of requests.
//
// With SK_BENCH_PDO=mysql://USER:PASS@HOST:PORT/DB or postgres://... the
// handler is Symfony's PdoSessionHandler (Debian php-symfony-http-foundation)
// on that database instead, on table sk_bench_pdo (dropped and created
// anew by this run), with one PDO connection kept for the whole run. Its
// lock mode is SK_BENCH_PDO_LOCK (none, advisory or transactional);
// default: transactional on MySQL/MariaDB, advisory on PostgreSQL.
//
// With SK_BENCH_MYSQL=mysql://USER:PASS@HOST:PORT/DB (the MariaDB server the
// handler uses) it reads the server's SHOW GLOBAL STATUS right before and
// after the timed cycles and prints what those cycles cost it, its own
// SHOW left out:
//   "mysql connections=C statements=S prepares=P fsyncs=F"
// statements counts what clients sent (Questions: a CALL is one), prepares
// the statements prepared (Com_stmt_prepare), fsyncs InnoDB's disk flushes
// (Innodb_data_fsyncs: a synced commit is one).
declare(strict_types=1);

const POOL_SIZE = 1000;
const WARMUP_CYCLES = 2 * POOL_SIZE;

function fail(string $message): never
{
    fwrite(STDERR, "session_cycle: $message\n");
    exit(1);
}

$cycles = (int) ($argv[1] ?? 0);
if ($cycles < 1) {
    fail('usage: php session_cycle.php CYCLES');
}

$pdo_url = getenv('SK_BENCH_PDO') ?: null;
if ($pdo_url !== null) {
    use_pdo_session_handler($pdo_url, getenv('SK_BENCH_PDO_LOCK') ?: null);
}

$pool = [];
for ($i = 0; $i < POOL_SIZE; $i++) {
    $pool[] = sprintf('bench%027d', $i);  // 32 characters, valid everywhere
}

// The initial session: a user profile and a cart, about 2 KB serialized.
function initial_session(int $n): array
{
    $cart = [];
    foreach (['tea', 'coffee', 'mug', 'honey', 'choc', 'kettle', 'filter', 'scale'] as $k => $sku) {
        $cart[$sku] = [
            'sku' => strtoupper($sku) . '-' . (1000 + $k),
            'name' => ucfirst($sku) . ' from the benchmark catalogue',
            'qty' => 1 + $k % 3,
            'price_cents' => 350 + 125 * $k,
            'added_at' => 1700000000 + $k,
        ];
    }
    return [
        'profile' => [
            'user_id' => 100000 + $n,
            'name' => "Benchmark User $n",
            'email' => "user$n@example.com",
            'locale' => 'en_GB',
            'roles' => ['customer', 'newsletter'],
            'address' => ['street' => '1 Example Road', 'city' => 'Exampleton',
                          'zip' => 'EX1 2AB', 'country' => 'GB'],
            'preferences' => ['theme' => 'dark', 'currency' => 'EUR', 'items_per_page' => 48],
        ],
        'cart' => $cart,
        'recently_viewed' => ['TEA-1000', 'MUG-1002', 'HONEY-1003', 'SCALE-1007', 'FILTER-1006'],
        'csrf' => str_repeat('0123456789abcdef', 4),
        'flash' => 'Welcome back!',
        'counter' => 0,
        'last_seen' => 0,
    ];
}

function cycle(string $id, int $i): void
{
    session_id($id);
    if (!session_start()) {
        fail("session_start() failed for session $i");
    }
    if (!isset($_SESSION['profile'])) {
        $_SESSION = initial_session($i);
    }
    $_SESSION['counter']++;
    $_SESSION['last_seen'] = $i;
    $skus = array_keys($_SESSION['cart']);
    $_SESSION['cart'][$skus[$i % count($skus)]]['qty']++;
    if (!session_write_close()) {
        fail("session_write_close() failed for session $i");
    }
}

// Makes Symfony's PdoSessionHandler on database $url the session handler,
// on a new, empty table, with lock mode $lock (null: the default above).
function use_pdo_session_handler(string $url, ?string $lock): void
{
    $autoload = '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';
    if (!is_file($autoload)) {
        fail("SK_BENCH_PDO: $autoload is missing (Debian package php-symfony-http-foundation)");
    }
    require_once $autoload;
    $u = parse_url($url);
    $driver = match ($u['scheme'] ?? '') {
        'mysql' => 'mysql',
        'postgres', 'postgresql' => 'pgsql',
        default => fail("SK_BENCH_PDO=$url: not a mysql:// or postgres:// URL"),
    };
    $db = ltrim($u['path'] ?? '', '/');
    try {
        $pdo = new PDO("$driver:host={$u['host']};port={$u['port']};dbname=$db",
                       urldecode($u['user'] ?? ''), urldecode($u['pass'] ?? ''),
                       [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    } catch (PDOException $e) {
        fail("SK_BENCH_PDO: cannot connect: {$e->getMessage()}");
    }
    $handler_class = 'Symfony\\Component\\HttpFoundation\\Session\\Storage\\Handler\\PdoSessionHandler';
    $lock ??= $driver === 'mysql' ? 'transactional' : 'advisory';
    $modes = ['none' => $handler_class::LOCK_NONE, 'advisory' => $handler_class::LOCK_ADVISORY,
              'transactional' => $handler_class::LOCK_TRANSACTIONAL];
    if (!isset($modes[$lock])) fail("SK_BENCH_PDO_LOCK=$lock: none, advisory or transactional");
    $handler = new $handler_class($pdo, ['db_table' => 'sk_bench_pdo', 'lock_mode' => $modes[$lock]]);
    $pdo->exec('DROP TABLE IF EXISTS sk_bench_pdo');
    $handler->createTable();
    session_set_save_handler($handler, true);
}

function mysql_connect_url(string $url): PDO
{
    $u = parse_url($url);
    $db = ltrim($u['path'] ?? '', '/');
    try {
        return new PDO("mysql:host={$u['host']};port={$u['port']};dbname=$db",
                       urldecode($u['user'] ?? ''), urldecode($u['pass'] ?? ''),
                       [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    } catch (PDOException $e) {
        fail("SK_BENCH_MYSQL: cannot connect: {$e->getMessage()}");
    }
}

// The server's Questions, Com_stmt_prepare, Connections and
// Innodb_data_fsyncs counters.
function mysql_status(PDO $conn): array
{
    $rows = $conn->query("SHOW GLOBAL STATUS WHERE Variable_name IN
                            ('Questions', 'Com_stmt_prepare', 'Connections',
                             'Innodb_data_fsyncs')")
                 ->fetchAll(PDO::FETCH_KEY_PAIR);
    if (count($rows) !== 4) fail('SK_BENCH_MYSQL: SHOW GLOBAL STATUS lacks a counter');
    return array_map('intval', $rows);
}

// INFO all of the server at $conn: [command => calls] plus the stats
// fields "connections" and "writes".
function redis_info($conn): array
{
    fwrite($conn, "*2\r\n\$4\r\nINFO\r\n\$3\r\nall\r\n");
    $header = fgets($conn);
    if ($header === false || $header[0] !== '$') {
        fail('SK_BENCH_REDIS: no INFO reply: ' . var_export($header, true));
    }
    $size = (int) substr($header, 1) + 2;
    $text = '';
    while (strlen($text) < $size && !feof($conn)) {
        $text .= fread($conn, $size - strlen($text));
    }
    preg_match_all('/^cmdstat_([^:]+):calls=(\d+)/m', $text, $m, PREG_SET_ORDER);
    $info = [];
    foreach ($m as [, $name, $calls]) {
        $info[strtoupper($name)] = (int) $calls;
    }
    preg_match('/^total_connections_received:(\d+)/m', $text, $c);
    preg_match('/^total_writes_processed:(\d+)/m', $text, $w);
    if (!$c || !$w) {
        fail('SK_BENCH_REDIS: INFO lacks total_connections_received or total_writes_processed');
    }
    return $info + ['connections' => (int) $c[1], 'writes' => (int) $w[1]];
}

for ($i = 0; $i < WARMUP_CYCLES; $i++) {
    cycle($pool[$i % POOL_SIZE], $i);
}

$mysql = getenv('SK_BENCH_MYSQL') ?: null;
if ($mysql !== null) {
    $mysql_conn = mysql_connect_url($mysql);
    $mysql_before = mysql_status($mysql_conn);
}

$redis = getenv('SK_BENCH_REDIS') ?: null;
if ($redis !== null) {
    $redis_conn = stream_socket_client("tcp://$redis", $errno, $errstr, 2)
        ?: fail("SK_BENCH_REDIS=$redis: $errstr");
    $before = redis_info($redis_conn);
}

$start = hrtime(true);
for ($i = 0; $i < $cycles; $i++) {
    cycle($pool[$i % POOL_SIZE], $i);
}
$elapsed = hrtime(true) - $start;

if ($mysql !== null) {
    $mysql_after = mysql_status($mysql_conn);
    // The second SHOW counts itself among the Questions.
    $mysql_line = sprintf("mysql connections=%d statements=%d prepares=%d fsyncs=%d\n",
        $mysql_after['Connections'] - $mysql_before['Connections'],
        $mysql_after['Questions'] - $mysql_before['Questions'] - 1,
        $mysql_after['Com_stmt_prepare'] - $mysql_before['Com_stmt_prepare'],
        $mysql_after['Innodb_data_fsyncs'] - $mysql_before['Innodb_data_fsyncs']);
}

if ($redis !== null) {
    $after = redis_info($redis_conn);
    $commands = [];
    foreach ($after as $name => $calls) {
        if ($name === 'connections' || $name === 'writes' || $name === 'INFO') continue;
        $delta = $calls - ($before[$name] ?? 0);
        if ($delta > 0) $commands[] = "$name:$delta";
    }
    // The first INFO's reply is written after its snapshot: one write.
    $redis_line = sprintf("redis connections=%d round_trips=%d commands=%s\n",
        $after['connections'] - $before['connections'],
        $after['writes'] - $before['writes'] - 1, implode(',', $commands));
}

// Every write must have landed: the counters add up to all cycles run.
$sum = 0;
$payload_bytes = 0;
foreach ($pool as $id) {
    session_id($id);
    if (!session_start(['read_and_close' => true])) {
        fail('session_start() failed while verifying');
    }
    $sum += $_SESSION['counter'] ?? 0;
    $payload_bytes = max($payload_bytes, strlen(serialize($_SESSION)));
}
if ($sum !== WARMUP_CYCLES + $cycles) {
    fail(sprintf('lost updates: counters sum to %d, expected %d', $sum, WARMUP_CYCLES + $cycles));
}
printf("cycles=%d ns=%d payload_bytes=%d\n", $cycles, $elapsed, $payload_bytes);
// The warm-up's cycles write as the timed ones do (the read-back's do not
// write), for counts taken over the whole process.
printf("warmup_cycles=%d\n", WARMUP_CYCLES);
if ($redis !== null) {
    echo $redis_line;
}
if ($mysql !== null) {
    echo $mysql_line;
}
