<?php
// Sustained contention: every client of a run loops on this page with the
// same session, each request n = n + 1 with ~2 ms of work between the read
// (session_start) and the write, as ajax-burst does. The answer carries the
// new n only once session_write_close() succeeded (else a 503 naming the
// cause), and the warnings and notices PHP raised during the request (they
// are logged as well; notices a handler writes to the error log directly
// are counted from the log by the harness).
//
// ?settings=1 answers the lock settings the pool loaded instead, without
// touching a session.
require __DIR__ . '/common.php';

if (isset($_GET['settings'])) {
  $names = ['sessionkit.locking', 'sessionkit.lock_wait_ms',
            'sessionkit.lock_max_waiters', 'sessionkit.lock_timeout_action',
            'sessionkit.lock_lease_ms', 'redis.session.locking_enabled',
            'redis.session.lock_retries', 'redis.session.lock_wait_time',
            'redis.session.lock_expire', 'memcached.sess_locking',
            'memcached.sess_lock_retries', 'memcached.sess_lock_wait_min',
            'memcached.sess_lock_wait_max', 'memcached.sess_lock_expire',
            'max_execution_time'];
  $out = [];
  foreach ($names as $name) {
    $v = ini_get($name);
    if ($v !== false) {
      $out[$name] = $v;
    }
  }
  sk_json(['ok' => true, 'save_handler' => ini_get('session.save_handler'),
           'settings' => $out]);
  exit;
}

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings): bool {
  $warnings[] = $msg;
  return false;  // PHP logs it as usual, and error_get_last() still sees it
}, E_ALL & ~E_DEPRECATED);

error_clear_last();
if (!session_start()) {
  $e = error_get_last();
  sk_json(['ok' => false, 'error' => 'session_start failed: ' .
           ($e['message'] ?? 'no message'), 'warnings' => $warnings], 503);
  exit;
}
$n = sk_increment();
$id = session_id();
error_clear_last();
$ok = session_write_close();
$e = error_get_last();
if (!$ok || $e !== null) {
  sk_json(['ok' => false, 'error' => 'session write failed: ' .
           ($e['message'] ?? 'returned false'), 'warnings' => $warnings], 503);
  exit;
}
sk_ack($id, $n);
sk_json(['ok' => true, 'n' => $n, 'warnings' => $warnings]);
