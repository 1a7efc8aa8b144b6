<?php
// The loss check's reader: POST {"ids": [...]}; reads every session with
// read_and_close, as the application would, and answers per id whether it
// exists, its counters, its size and a digest of its contents (the whole
// contents with "full": true).
require __DIR__ . '/common.php';
$in = sk_posted();
$full = (bool)($in['full'] ?? false);
$out = [];
foreach ($in['ids'] as $id) {
  session_id($id);
  error_clear_last();
  if (!session_start(['read_and_close' => true])) {
    $e = error_get_last();
    $out[$id] = ['error' => 'session_start failed: ' . ($e['message'] ?? '?')];
    continue;
  }
  $data = $_SESSION;
  $ser = serialize($data);
  $row = ['exists' => $data !== [], 'v' => $data['v'] ?? null,
          'n' => $data['n'] ?? null, 'root' => $data['root'] ?? null,
          'bytes' => strlen($ser),
          'md5' => md5($ser)];
  if ($full) {
    $row['data'] = $data;
  }
  $out[$id] = $row;
  $_SESSION = [];
}
sk_json(['ok' => true, 'sessions' => $out]);
