<?php
// big: read a ~100 KB session, change one record, write it all back.
require __DIR__ . '/common.php';
sk_start();
if (!isset($_SESSION['v'])) {
  $_SESSION = sk_fixture('big');
}
$v = (int)$_SESSION['v'] + 1;
$_SESSION['v'] = $v;
$i = $v % count($_SESSION['items']);
$_SESSION['items'][$i] = sk_big_item($i, $v);
$id = session_id();
sk_write();
sk_ack($id, $v);
sk_json(['ok' => true, 'v' => $v]);
