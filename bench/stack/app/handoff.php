<?php
// Lock hand-off, run by the harness with the PHP CLI and the handler's own
// ini (not a page: through php-fpm it answers 404). Two forked processes
// ping-pong one session. The holder has the lock (its session_start()
// returned), tells the other to start, sleeps HOLD_US so the other is surely
// blocked inside session_start(), and notes t0 = hrtime() just before
// session_write_close(); the waiter notes t1 = hrtime() right after its
// session_start() returned. The hand-off is t1 - t0: the holder's write and
// release plus the time the waiter takes to notice, the same for every
// handler. Then the roles swap. Every hold increments n, so when no update
// was lost the stored counter equals the number of holds.
//
// Usage: php handoff.php ID HANDOFFS SECONDS HOLD_US TMP_PREFIX
// Stops after HANDOFFS hand-offs or SECONDS, whichever comes first, and
// prints one line: SKHANDOFF {json}.
declare(strict_types=1);
require __DIR__ . '/common.php';

if (PHP_SAPI !== 'cli') {
  sk_fail(404, 'handoff.php runs from the CLI (bench/stack/skstack/load.py)');
}

// The CLI has no cookies or cache headers to send; the id is set by hand.
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');

function hf_start(string $id, array &$r): bool {
  session_id($id);
  error_clear_last();
  if (@session_start()) {
    return true;
  }
  $e = error_get_last();
  $r['start_failed'][] = $e['message'] ?? 'session_start returned false';
  return false;
}

// Increments n and writes; acknowledged (ack log) only when the write
// succeeded without a warning, as the pages do.
function hf_write(string $id, array &$r, int $k): void {
  if (session_status() !== PHP_SESSION_ACTIVE) {
    return;
  }
  $n = (int)($_SESSION['n'] ?? 0) + 1;
  $_SESSION['n'] = $n;
  $r['holds']++;
  $r['release'][$k] = hrtime(true);
  error_clear_last();
  $ok = @session_write_close();
  $e = error_get_last();
  if ($ok && $e === null) {
    sk_ack($id, $n);
    $r['acked']++;
  } else {
    $r['write_failed'][] = $e['message'] ?? 'session_write_close returned false';
  }
}

// One side of the ping-pong. Side 0 takes the lock first. The control socket
// carries "go K" (the sender holds the lock and releases it for hand-off K
// after HOLD_US) or "stop"; the messages alternate, so the two sides stay in
// step even when a lock is not honoured.
function hf_side(int $side, $ctl, string $id, int $handoffs, int $deadline,
                 int $hold_us): array {
  $r = ['release' => [], 'enter' => [], 'acquire' => [], 'holds' => 0,
        'acked' => 0, 'start_failed' => [], 'write_failed' => []];
  $k = 0;
  $mine = $side === 0;
  if ($mine) {
    hf_start($id, $r);
  }
  while (true) {
    if ($mine) {
      if ($k >= $handoffs || hrtime(true) >= $deadline) {
        hf_write($id, $r, -1);
        fwrite($ctl, "stop\n");
        break;
      }
      fwrite($ctl, "go $k\n");
      usleep($hold_us);
      hf_write($id, $r, $k);
      $mine = false;
      continue;
    }
    $line = fgets($ctl);
    if ($line === false || !str_starts_with($line, 'go ')) {
      break;  // "stop", or the other side is gone
    }
    $k = (int)substr($line, 3);
    $r['enter'][$k] = hrtime(true);
    hf_start($id, $r);
    $r['acquire'][$k] = hrtime(true);
    $k++;
    $mine = true;
  }
  unset($r['release'][-1]);
  return $r;
}

// Hand-offs from both sides' notes: release (t0) on one side, enter and
// acquire (t1) on the other. A waiter that returned before the release did
// not wait (the lock was not held against it); one that entered
// session_start() only after the release measured no wait (late), and is
// left out of the samples.
function hf_merge(array $a, array $b): array {
  $out = ['samples_us' => [], 'no_wait' => 0, 'late' => 0, 'handoffs' => 0];
  foreach ([[$a, $b], [$b, $a]] as [$holder, $waiter]) {
    foreach ($holder['release'] as $k => $t0) {
      if (!isset($waiter['acquire'][$k])) {
        continue;
      }
      $out['handoffs']++;
      $t1 = $waiter['acquire'][$k];
      if ($t1 < $t0) {
        $out['no_wait']++;
      } elseif ($waiter['enter'][$k] > $t0) {
        $out['late']++;
      } else {
        $out['samples_us'][] = round(($t1 - $t0) / 1000, 1);
      }
    }
  }
  return $out;
}

// The lock settings this handler runs with, as loaded (defaults included),
// so the report states the real waits rather than remembered ones.
function hf_lock_ini(): array {
  $out = [];
  foreach (ini_get_all(null, false) as $key => $value) {
    if (str_contains($key, 'lock') && !in_array($value, [null, '', 'not set'], true) &&
        preg_match('/^(session|redis|memcached|sessionkit)\./', $key)) {
      $out[$key] = $value;
    }
  }
  ksort($out);
  return $out;
}

[, $id, $handoffs, $seconds, $hold_us, $tmp] = array_pad($argv, 6, '');
if (!sk_valid_id($id) || (int)$handoffs < 1 || (float)$seconds <= 0 ||
    $tmp === '') {
  fwrite(STDERR, "usage: php handoff.php ID HANDOFFS SECONDS HOLD_US TMP_PREFIX\n");
  exit(2);
}
$started = hrtime(true);
$deadline = $started + (int)((float)$seconds * 1e9);
$pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
$pids = [];
foreach ([0, 1] as $side) {
  $pid = pcntl_fork();
  if ($pid === -1) {
    fwrite(STDERR, "handoff.php: fork failed\n");
    exit(1);
  }
  if ($pid === 0) {
    $ctl = $pair[$side];
    fclose($pair[1 - $side]);
    // A side whose partner hangs gives up reading after the deadline.
    stream_set_timeout($ctl, (int)$seconds + 30);
    $r = hf_side($side, $ctl, $id, (int)$handoffs, $deadline, (int)$hold_us);
    file_put_contents("$tmp.$side.json", json_encode($r));
    exit(0);
  }
  $pids[$side] = $pid;
}
fclose($pair[0]);
fclose($pair[1]);
$sides = [];
foreach ($pids as $side => $pid) {
  pcntl_waitpid($pid, $status);
  $json = @file_get_contents("$tmp.$side.json");
  @unlink("$tmp.$side.json");
  $sides[$side] = $json === false ? null : json_decode($json, true);
  if ($sides[$side] === null) {
    fwrite(STDERR, "handoff.php: side $side left no result (exit status $status)\n");
    exit(1);
  }
}
[$a, $b] = $sides;
$out = hf_merge($a, $b) + [
  'holds' => $a['holds'] + $b['holds'],
  'acked' => $a['acked'] + $b['acked'],
  'start_failed' => count($a['start_failed']) + count($b['start_failed']),
  'write_failed' => count($a['write_failed']) + count($b['write_failed']),
  'failure_examples' => array_slice(array_merge(
      $a['start_failed'], $b['start_failed'], $a['write_failed'],
      $b['write_failed']), 0, 3),
  'elapsed_s' => round((hrtime(true) - $started) / 1e9, 3),
  'hold_us' => (int)$hold_us,
  'lock_ini' => (object)hf_lock_ini(),  // {} rather than [] when empty
];
echo 'SKHANDOFF ', json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
