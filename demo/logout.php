<?php
// Log out: POST only (with the CSRF token). Destroys the stored session and
// expires the cookie.
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
if ($_SERVER['REQUEST_METHOD'] !== 'POST' || !csrf_ok()) {
    redirect('index.php');
}
$_SESSION = [];
$params = session_get_cookie_params();
setcookie(session_name(), '', [
    'expires' => time() - 3600,
    'path' => $params['path'],
    'domain' => $params['domain'],
    'secure' => $params['secure'],
    'httponly' => $params['httponly'],
    'samesite' => $params['samesite'],
]);
session_destroy();
redirect('index.php');
