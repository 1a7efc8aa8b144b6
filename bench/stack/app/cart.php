<?php
// cart: read the ~2 KB session, add an item, write. A session that does not
// exist yet (or was lost) is created on this hit, as a shop would.
require __DIR__ . '/common.php';
sk_start();
if (!isset($_SESSION['v'])) {
  $_SESSION = sk_fixture('cart');
}
$v = (int)$_SESSION['v'] + 1;
$_SESSION['v'] = $v;
$_SESSION['cart'][] = sk_cart_item($v);
if (count($_SESSION['cart']) > 8) {
  array_shift($_SESSION['cart']);
}
$id = session_id();
sk_write();
sk_ack($id, $v);
sk_json(['ok' => true, 'v' => $v]);
