<?php
// Log in with any name, no password. A new session id is issued on login
// (session_regenerate_id), so an id seen before login is worthless a few
// seconds after it: for sessionkit.regenerate_grace it still leads to the new
// session, so that the other tabs' requests already on their way do not lose
// the session (docs/php.md, "Regenerate grace").
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
$error = null;
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $name = trim((string) ($_POST['username'] ?? ''));
    if (!csrf_ok()) {
        $error = 'The form expired; please try again.';
    } elseif (preg_match('/^[^\x00-\x1f\x7f]{1,40}$/u', $name) !== 1) {
        $error = 'Enter a name of 1 to 40 characters.';
    } else {
        session_regenerate_id(true);  // drop the old id after its grace
        $_SESSION['user'] = $name;
        $_SESSION['logged_in_at'] = date(DATE_ATOM);
        flash("Welcome, $name. Your session has a new id now.");
        redirect('index.php');
    }
}
if (current_user() !== null && $error === null) {
    redirect('index.php');
}

page_header('Log in', 'login.php');
?>
<form method="post" class="card login">
  <?= csrf_field() ?>
  <?php if ($error !== null): ?><p class="error"><?= h($error) ?></p><?php endif ?>
  <label for="username">Your name</label>
  <input id="username" name="username" maxlength="40" autocomplete="username" required autofocus>
  <p class="hint">Any name will do; there is no password in this demo.</p>
  <button type="submit">Log in</button>
</form>
<?php
page_footer();
