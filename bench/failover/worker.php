<?php
// One load process of the failover benchmark (bench/failover/run starts
// several of them at once, with the sessionkit extension and the store URL
// given by -d flags).
//
//   php [-d ...] worker.php loop SESSIONS END_EPOCH OUT_FILE
//   php [-d ...] worker.php read SESSIONS OUT_FILE
//
// loop: until END_EPOCH (a Unix time with fractions), picks one of SESSIONS
// session ids at random and does
//
//   session_id($id); session_start();
//   $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
//   session_write_close();
//
// An update is acknowledged only when session_start() returned true,
// session_write_close() returned true and no warning was raised in between
// (a user error handler collects them). sessionkit reports a read-only
// request (a lock wait that ran out: its write is skipped) with a notice
// written straight to PHP's error log, not through the error handler, so
// the worker runs with its own error_log file and counts a request that
// added a line there as failed too, unless the line only reports a lock
// taken over from a dead holder.
//
// Writes one line per request to OUT_FILE, at the end:
//
//   START END INDEX STATUS VALUE_READ [REASON]
//
// START and END are Unix times (microtime), INDEX the session (0 to
// SESSIONS-1), STATUS "ok" (acknowledged, with VALUE_READ + 1 written) or
// "fail", VALUE_READ the n the request read (-1 when session_start()
// failed) and REASON a short cause for a failure. The full message of the
// first 50 failures goes to OUT_FILE.messages ("START message" lines).
//
// read: reads every session once without a lock (read_and_close), retrying
// a failed read for up to 10 s, and writes "INDEX VALUE" lines (VALUE -1:
// never read; 0: no such session).
declare(strict_types=1);

function session_name_of(int $i): string
{
    return sprintf('failbench-session-%04d', $i);
}

// The short cause of a failure, from the first message of the request.
function reason_of(string $message): string
{
    $m = strtolower($message);
    foreach ([
        'read without the lock' => 'readonly',
        'will not be saved' => 'readonly',
        'already wait for its lock' => 'waiters',
        'cannot lock' => 'lock',
        'read it read-only' => 'readonly',
        'no longer holds the session lock' => 'locklost',
        'no longer held by this request' => 'locklost',
        'replicas acknowledged' => 'durable',
        'still redirected' => 'redirects',
        'readonly' => 'READONLY',
        'masterdown' => 'MASTERDOWN',
        'clusterdown' => 'CLUSTERDOWN',
        'no master' => 'nomaster',
        'timed out' => 'timeout',
        'connection refused' => 'refused',
        'cannot connect' => 'refused',
        'closed the connection' => 'closed',
        'cannot read' => 'read',
        'cannot save' => 'save',
        'cannot release' => 'release',
    ] as $needle => $reason) {
        if (str_contains($m, $needle)) return $reason;
    }
    return 'other';
}

$mode = $argv[1] ?? '';
$sessions = (int) ($argv[2] ?? 0);
if (!in_array($mode, ['loop', 'read'], true) || $sessions < 1) {
    fwrite(STDERR, "usage: worker.php loop SESSIONS END_EPOCH OUT_FILE | read SESSIONS OUT_FILE\n");
    exit(2);
}

$warnings = [];
set_error_handler(function (int $no, string $str) use (&$warnings): bool {
    $warnings[] = $str;
    return true;
});

if ($mode === 'read') {
    $out = $argv[3];
    $lines = [];
    for ($i = 0; $i < $sessions; $i++) {
        $value = -1;
        $deadline = microtime(true) + 10;
        do {
            $warnings = [];
            session_id(session_name_of($i));
            if (session_start(['read_and_close' => true]) && !$warnings) {
                $value = (int) ($_SESSION['n'] ?? 0);
                break;
            }
            if (session_status() === PHP_SESSION_ACTIVE) session_abort();
            usleep(100000);
        } while (microtime(true) < $deadline);
        $_SESSION = [];
        $lines[] = "$i $value";
    }
    file_put_contents($out, implode("\n", $lines) . "\n");
    exit(0);
}

$end = (float) ($argv[3] ?? 0);
$out = $argv[4] ?? '';
$log = (string) ini_get('error_log');
if ($log === '' || $out === '') {
    fwrite(STDERR, "worker.php: needs OUT_FILE and an error_log file (-d error_log=...)\n");
    exit(2);
}
@touch($log);
clearstatcache();
$log_offset = (int) filesize($log);

// New lines of the error log since the last look: the notices (read-only
// request, skipped write, lock taken over) that bypass the error handler.
function new_log_lines(string $log, int &$offset): array
{
    clearstatcache(true, $log);
    $size = (int) @filesize($log);
    if ($size <= $offset) return [];
    $text = (string) file_get_contents($log, false, null, $offset, $size - $offset);
    $offset = $size;
    return array_values(array_filter(explode("\n", $text), fn ($l) => $l !== ''));
}

mt_srand(getmypid() ^ (int) (microtime(true) * 1e6));
$records = [];
$messages = [];
while (($start = microtime(true)) < $end) {
    $i = mt_rand(0, $sessions - 1);
    $warnings = [];
    session_id(session_name_of($i));
    $started = session_start();
    $read = -1;
    $closed = false;
    if ($started) {
        $read = (int) ($_SESSION['n'] ?? 0);
        $_SESSION['n'] = $read + 1;
        $closed = session_write_close();
    }
    $stop = microtime(true);
    $notices = [];
    foreach (new_log_lines($log, $log_offset) as $line) {
        if (!str_contains($line, 'took over the lock')) $notices[] = $line;
    }
    if ($started && $closed && !$warnings && !$notices) {
        $records[] = sprintf('%.6f %.6f %d ok %d', $start, $stop, $i, $read);
    } else {
        $text = $notices[0] ?? $warnings[0] ?? 'returned false, no message';
        $why = ($notices || $warnings) ? reason_of($text) : 'false';
        if (count($messages) < 50) {
            $messages[] = sprintf('%.6f %s', $start, str_replace("\n", ' ', $text));
        }
        $records[] = sprintf('%.6f %.6f %d fail %d %s', $start, $stop, $i, $read, $why);
    }
    if (session_status() === PHP_SESSION_ACTIVE) session_abort();
    $_SESSION = [];
}
file_put_contents($out, $records ? implode("\n", $records) . "\n" : '');
file_put_contents("$out.messages", $messages ? implode("\n", $messages) . "\n" : '');
