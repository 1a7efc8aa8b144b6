<?php
// Destroys sessions: POST {"ids": [...]}. Used by the harness's self-check
// (the loss check must report exactly these as lost).
require __DIR__ . '/common.php';
$in = sk_posted();
foreach ($in['ids'] as $id) {
  session_id($id);
  sk_start();
  session_destroy();
}
sk_json(['ok' => true, 'destroyed' => count($in['ids'])]);
