<?php
// Fault target: like cart, but holds the session open for ?hold_ms= (at most
// 10 s) after writing this worker's pid to <run>/pids/<tag>, so the harness
// can kill -9 the worker while it is inside the session.
require __DIR__ . '/common.php';
$tag = (string)($_GET['tag'] ?? '');
if (preg_match('/^[a-z0-9]{1,32}$/', $tag) !== 1) {
  sk_fail(400, 'tag must be 1-32 characters a-z 0-9');
}
$hold = max(0, min(10000, (int)($_GET['hold_ms'] ?? 1000)));
sk_start();
if (!isset($_SESSION['v'])) {
  $_SESSION = sk_fixture('cart');
}
$v = (int)$_SESSION['v'] + 1;
$_SESSION['v'] = $v;
$_SESSION['cart'][] = sk_cart_item($v);
file_put_contents(sk_cfg('run_dir') . "/pids/$tag", (string)getmypid());
usleep($hold * 1000);
$id = session_id();
sk_write();
sk_ack($id, $v);
sk_json(['ok' => true, 'v' => $v]);
