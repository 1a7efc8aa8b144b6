<?php
// Seeds sessions: POST {"kind": "cart"|"big"|"burst", "ids": [...]}; every
// session gets the fixture at version 0 with its own root, which is
// returned per id.
require __DIR__ . '/common.php';
$in = sk_posted();
$kind = (string)($in['kind'] ?? 'cart');
$fixture = sk_fixture($kind);
$roots = [];
foreach ($in['ids'] as $id) {
  session_id($id);
  sk_start();
  $fixture['root'] = bin2hex(random_bytes(8));
  $_SESSION = $fixture;
  sk_write();
  $roots[$id] = $fixture['root'];
}
sk_json(['ok' => true, 'roots' => $roots]);
