<?php
// The AJAX endpoint: POST action=add&product=ID (and the CSRF token, as a
// field or an X-CSRF-Token header). Answers JSON with the new cart count when
// the client accepts JSON; redirects back to the products otherwise.
// GET api.php?action=cart answers the cart as JSON.
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
$wants_json = str_contains($_SERVER['HTTP_ACCEPT'] ?? '', 'application/json');

function reply(int $status, array $body, bool $json): never
{
    if ($json) {
        http_response_code($status);
        header('Content-Type: application/json');
        header('Cache-Control: no-store');
        echo json_encode($body), "\n";
        exit;
    }
    if (isset($body['error'])) {
        flash('Error: ' . $body['error']);
    } elseif (isset($body['message'])) {
        flash($body['message']);
    }
    redirect('index.php');
}

if ($_SERVER['REQUEST_METHOD'] === 'GET' && ($_GET['action'] ?? '') === 'cart') {
    reply(200, [
        'ok' => true,
        'user' => current_user(),
        'count' => cart_count(),
        'cart' => (object) $_SESSION['cart'],
    ], true);
}
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    header('Allow: POST');
    reply(405, ['ok' => false, 'error' => 'use POST'], true);
}
if (!csrf_ok()) {
    reply(403, ['ok' => false, 'error' => 'missing or wrong CSRF token; reload the page'], $wants_json);
}
$action = $_POST['action'] ?? '';
$product = $_POST['product'] ?? '';
if ($action !== 'add') {
    reply(400, ['ok' => false, 'error' => 'unknown action'], $wants_json);
}
if (!is_string($product) || !isset(PRODUCTS[$product])) {
    reply(400, ['ok' => false, 'error' => 'unknown product'], $wants_json);
}

$_SESSION['cart'][$product] = ($_SESSION['cart'][$product] ?? 0) + 1;
$name = PRODUCTS[$product]['name'];
reply(200, [
    'ok' => true,
    'count' => cart_count(),
    'product' => $product,
    'quantity' => $_SESSION['cart'][$product],
    'name' => $name,
    'message' => "Added $name to your cart.",
], $wants_json);
