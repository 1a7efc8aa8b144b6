<?php
// Shared code of the demo shop: the catalogue, the session, the page frame.
//
// The app uses nothing but PHP's own session API. Which handler stores the
// sessions (sessionkit, files, ...) is chosen by ini settings alone
// (session.save_handler and session.save_path), so this code runs unchanged
// on any of them.
declare(strict_types=1);

const PRODUCTS = [
    'tea'    => ['name' => 'Green tea',       'price' => 450,  'color' => '#5a8f29',
                 'blurb' => 'Sencha leaves, 100 g.'],
    'coffee' => ['name' => 'Coffee beans',    'price' => 1290, 'color' => '#6f4e37',
                 'blurb' => 'Medium roast, 500 g.'],
    'mug'    => ['name' => 'Enamel mug',      'price' => 900,  'color' => '#2b6cb0',
                 'blurb' => 'Holds 350 ml, survives camping.'],
    'honey'  => ['name' => 'Forest honey',    'price' => 780,  'color' => '#d69e2e',
                 'blurb' => 'Dark and thick, 250 g.'],
    'choc'   => ['name' => 'Dark chocolate',  'price' => 350,  'color' => '#44337a',
                 'blurb' => '72 % cocoa, 100 g.'],
    'kettle' => ['name' => 'Gooseneck kettle', 'price' => 3400, 'color' => '#718096',
                 'blurb' => 'For slow pour-over.'],
];

/** Starts (or resumes) the visitor's session with safe cookie settings. */
function app_session_start(): void
{
    $ok = session_start([
        'use_strict_mode' => true,   // refuse ids the server never issued
        'cookie_httponly' => true,
        'cookie_samesite' => 'Lax',
    ]);
    if (!$ok) {
        http_response_code(503);
        echo 'The session store is not available; see the server log.';
        exit;
    }
    if (!isset($_SESSION['csrf'])) {
        $_SESSION['csrf'] = bin2hex(random_bytes(16));
    }
    $_SESSION['cart'] ??= [];
    $_SESSION['views'] = ($_SESSION['views'] ?? 0) + 1;
}

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function money(int $cents): string
{
    return sprintf('%d.%02d EUR', intdiv($cents, 100), $cents % 100);
}

function cart_count(): int
{
    return array_sum($_SESSION['cart'] ?? []);
}

function current_user(): ?string
{
    return $_SESSION['user'] ?? null;
}

/** True when a POST carries this session's anti-forgery token. */
function csrf_ok(): bool
{
    $sent = $_POST['csrf'] ?? ($_SERVER['HTTP_X_CSRF_TOKEN'] ?? '');
    return is_string($sent) && isset($_SESSION['csrf'])
        && hash_equals($_SESSION['csrf'], $sent);
}

function csrf_field(): string
{
    return '<input type="hidden" name="csrf" value="' . h($_SESSION['csrf']) . '">';
}

function redirect(string $to): never
{
    header('Location: ' . $to, true, 303);
    exit;
}

/** Flash messages survive one redirect, in the session. */
function flash(string $message): void
{
    $_SESSION['flash'][] = $message;
}

function page_header(string $title, string $active): void
{
    $user = current_user();
    $nav = [
        'index.php'   => 'Products',
        'cart.php'    => 'Cart',
        'session.php' => 'Session',
    ];
    $messages = $_SESSION['flash'] ?? [];
    unset($_SESSION['flash']);
    ?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="<?= h($_SESSION['csrf']) ?>">
<title><?= h($title) ?> · sessionkit demo shop</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header class="top">
  <a class="brand" href="index.php">sessionkit <span>demo shop</span></a>
  <nav>
    <?php foreach ($nav as $href => $label): ?>
      <a href="<?= $href ?>"<?= $href === $active ? ' class="active"' : '' ?>><?= h($label) ?><?php
        if ($href === 'cart.php'): ?> <span class="badge" id="cart-count"><?= cart_count() ?></span><?php endif ?></a>
    <?php endforeach ?>
  </nav>
  <div class="who">
    <?php if ($user !== null): ?>
      <span>Signed in as <strong><?= h($user) ?></strong></span>
      <form method="post" action="logout.php" class="inline">
        <?= csrf_field() ?><button type="submit" class="link">Log out</button>
      </form>
    <?php else: ?>
      <a href="login.php"<?= $active === 'login.php' ? ' class="active"' : '' ?>>Log in</a>
    <?php endif ?>
  </div>
</header>
<main>
<div id="flash" aria-live="polite">
  <?php foreach ($messages as $m): ?><p class="flash"><?= h($m) ?></p><?php endforeach ?>
</div>
<h1><?= h($title) ?></h1>
<?php
}

function page_footer(): void
{
    ?>
</main>
<footer>Sessions are stored by <code><?= h((string) ini_get('session.save_handler')) ?></code>.
  <a href="session.php">Inspect this session</a>.</footer>
<script src="app.js"></script>
</body>
</html>
<?php
}
