<?php
// Start-up check: the handler is the expected one and a session round trip
// (write, then read back) works through it.
require __DIR__ . '/common.php';
ini_set('session.use_cookies', '0');
$id = 'stackping' . bin2hex(random_bytes(12));
session_id($id);
sk_start();
$token = bin2hex(random_bytes(8));
$_SESSION['ping'] = $token;
sk_write();
session_id($id);
sk_start(['read_and_close' => true]);
$roundtrip = ($_SESSION['ping'] ?? null) === $token;
session_id($id);
sk_start();
session_destroy();
sk_json(['save_handler' => ini_get('session.save_handler'),
         'handler' => sk_cfg('handler'), 'pid' => getmypid(),
         'roundtrip' => $roundtrip,
         'extensions' => get_loaded_extensions()]);
