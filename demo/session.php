<?php
// What the server knows about this visit: the session id (a prefix only: the
// full id is a credential), the handler and store in use, and the data.
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
$id = session_id();
$save_path = (string) ini_get('session.save_path');
// A store URL may carry a password (redis://:secret@host): never show it.
$shown_path = preg_replace('#(://[^/@]*:)[^@/]*@#', '$1***@', $save_path);
$encoded = session_encode();
$settings = [
    'session.save_handler' => (string) ini_get('session.save_handler'),
    'session.save_path' => $shown_path === '' ? '(default)' : $shown_path,
    'session.serialize_handler' => (string) ini_get('session.serialize_handler'),
    'session.gc_maxlifetime' => ini_get('session.gc_maxlifetime') . ' s',
    'session.use_strict_mode' => '1 (set by this app)',
    'session.lazy_write' => (string) ini_get('session.lazy_write'),
];
$is_sessionkit = $settings['session.save_handler'] === 'sessionkit';
$data = $_SESSION;
unset($data['csrf']);  // a secret too

page_header('Your session', 'session.php');
?>
<table class="facts">
  <tr><th>Session id</th><td><code id="sid-prefix"><?= h(substr($id, 0, 8)) ?>…</code>
    <span class="hint">(<?= strlen($id) ?> characters; only a prefix is shown)</span></td></tr>
  <tr><th>Page views in this session</th><td><?= (int) $_SESSION['views'] ?></td></tr>
  <tr><th>Stored payload</th><td><?= strlen((string) $encoded) ?> bytes</td></tr>
  <?php foreach ($settings as $name => $value): ?>
  <tr><th><code><?= h($name) ?></code></th><td><code><?= h($value) ?></code></td></tr>
  <?php endforeach ?>
</table>

<h2>Data</h2>
<pre class="data"><?= h(print_r($data, true)) ?></pre>

<?php if ($is_sessionkit): ?>
<h2>From the command line</h2>
<p>The same session, read by the <code>sessionkit</code> tool (copy the full
id from your browser's cookie <code><?= h(session_name()) ?></code>):</p>
<pre class="cmd">build/tools/sessionkit ls <?= h($shown_path) ?>

build/tools/sessionkit get <?= h($shown_path) ?> <?= h(substr($id, 0, 8)) ?>…
build/tools/sessionkit stats <?= h($shown_path) ?></pre>
<?php endif ?>
<?php
page_footer();
