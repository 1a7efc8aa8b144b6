<?php
// read: read_and_close only; answers the version it read.
require __DIR__ . '/common.php';
sk_start(['read_and_close' => true]);
header('X-SK-Read: ' . ($_SESSION['v'] ?? -1));
sk_json(['ok' => true, 'v' => $_SESSION['v'] ?? null,
         'items' => count($_SESSION['cart'] ?? [])]);
