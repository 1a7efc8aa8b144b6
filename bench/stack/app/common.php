<?php
// Shared helpers of the bench/stack pages. Every page that writes a session
// acknowledges the write only after session_write_close() succeeded: it
// appends "<id> <version>" to the handler's ack log (O_APPEND, one short line
// per write, so concurrent workers never interleave) and answers with the
// version in the X-SK-Wrote header. The loss check compares those
// acknowledgements with what the store holds afterwards.
declare(strict_types=1);

function sk_cfg(string $key): string {
  $v = get_cfg_var('sk_stack.' . $key);
  return $v === false ? '' : (string)$v;
}

function sk_json(array $data, int $code = 200): void {
  http_response_code($code);
  header('Content-Type: application/json');
  echo json_encode($data, JSON_UNESCAPED_SLASHES), "\n";
}

function sk_fail(int $code, string $why): never {
  sk_json(['ok' => false, 'error' => $why], $code);
  exit;
}

function sk_valid_id(string $id): bool {
  return preg_match('/^[a-zA-Z0-9,-]{22,256}$/', $id) === 1;
}

// session_start() that turns a failure into a 503 naming the cause.
function sk_start(array $options = []): void {
  error_clear_last();
  if (!session_start($options)) {
    $e = error_get_last();
    sk_fail(503, 'session_start failed: ' . ($e['message'] ?? 'no message'));
  }
}

// Writes the session; a failed write (false, or a warning raised while
// writing: PHP reports handler write errors only as warnings) is a 503 and
// is not acknowledged.
function sk_write(): void {
  error_clear_last();
  $ok = session_write_close();
  $e = error_get_last();
  if (!$ok || $e !== null) {
    sk_fail(503, 'session write failed: ' . ($e['message'] ?? 'returned false'));
  }
}

// n = n + 1 on the open session with ~2 ms of work between the read and
// the write (ajax-burst, contention); the new n.
function sk_increment(): int {
  if (!isset($_SESSION['n'])) {
    $_SESSION = sk_fixture('burst');
  }
  $n = (int)($_SESSION['n'] ?? 0) + 1;
  usleep(2000);
  $_SESSION['n'] = $n;
  return $n;
}

function sk_ack(string $id, int $version): void {
  $log = sk_cfg('ack_log');
  if ($log !== '') {
    file_put_contents($log, "$id $version\n", FILE_APPEND);
  }
  header('X-SK-Wrote: ' . $version);
}

// ~2 KB once serialised: a profile and a cart of up to 8 items.
function sk_fixture_cart(): array {
  $profile = [
    'user_id' => random_int(1, 1000000),
    'name' => 'Ada Lovelace',
    'email' => 'ada@example.org',
    'locale' => 'en_GB',
    'currency' => 'EUR',
    'roles' => ['customer', 'newsletter'],
    'address' => ['street' => '12 Analytical Row', 'city' => 'London',
                  'zip' => 'NW1 6XE', 'country' => 'GB'],
    'preferences' => ['theme' => 'light', 'page_size' => 24,
                      'recently_viewed' => range(1000, 1039)],
    'csrf' => bin2hex(random_bytes(32)),
    'flash' => [],
  ];
  $cart = [];
  for ($i = 0; $i < 6; $i++) {
    $cart[] = sk_cart_item($i);
  }
  return ['v' => 0, 'profile' => $profile, 'cart' => $cart];
}

function sk_cart_item(int $v): array {
  return ['sku' => sprintf('SKU-%06d', ($v * 7919) % 1000000),
          'title' => 'Item number ' . $v . ' in a plausible shop catalogue',
          'qty' => 1 + $v % 3, 'price_cents' => 999 + ($v % 50) * 100,
          'added_at' => time()];
}

// ~100 KB once serialised: 400 records of ~250 bytes.
function sk_fixture_big(): array {
  $items = [];
  for ($i = 0; $i < 400; $i++) {
    $items[] = sk_big_item($i, 0);
  }
  return ['v' => 0, 'items' => $items];
}

function sk_big_item(int $i, int $v): array {
  return ['id' => $i, 'v' => $v, 'sku' => sprintf('BIG-%08d', $i * 104729),
          'note' => str_repeat(substr(md5("$i/$v"), 0, 16), 8),
          'tags' => ['a' . ($i % 7), 'b' . ($i % 11), 'c' . ($i % 13)],
          'price' => $i * 3 + 0.99];
}

// Every fixture carries a random 'root' chosen when the session is created;
// a session that was lost and created again on a later hit has another root,
// so the loss check sees the reset even after the counter climbed back.
function sk_fixture(string $kind): array {
  switch ($kind) {
    case 'cart': $data = sk_fixture_cart(); break;
    case 'big': $data = sk_fixture_big(); break;
    case 'burst': $data = ['n' => 0]; break;
    default: sk_fail(400, 'unknown fixture ' . $kind);
  }
  $data['root'] = bin2hex(random_bytes(8));
  return $data;
}

// Ids posted as JSON {"ids": [...], ...}; each must be a valid session id.
// Run by the PHP CLI (load.dump_store), the JSON comes on stdin.
function sk_posted(): array {
  $src = PHP_SAPI === 'cli' ? 'php://stdin' : 'php://input';
  $in = json_decode((string)file_get_contents($src), true);
  if (!is_array($in) || !is_array($in['ids'] ?? null)) {
    sk_fail(400, 'expected a JSON body with "ids"');
  }
  foreach ($in['ids'] as $id) {
    if (!is_string($id) || !sk_valid_id($id)) {
      sk_fail(400, 'invalid session id in "ids"');
    }
  }
  // Batch pages handle many sessions in one request: no cookies.
  ini_set('session.use_cookies', '0');
  return $in;
}
