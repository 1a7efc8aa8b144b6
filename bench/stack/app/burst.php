<?php
// ajax-burst: n = n + 1 with ~2 ms of work between the read (session_start)
// and the write. Without a session lock, parallel requests overwrite each
// other's increments.
require __DIR__ . '/common.php';
sk_start();
$n = sk_increment();
$id = session_id();
sk_write();
sk_ack($id, $n);
sk_json(['ok' => true, 'n' => $n]);
