<?php
// The product list. "Add to cart" posts to api.php: with JavaScript as an
// AJAX call that updates the cart badge, without it as a plain form. "Add 5
// at once" (JavaScript only) sends five such calls in parallel.
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
page_header('Products', 'index.php');
?>
<p class="lead">
  <?php if (current_user() !== null): ?>
    Welcome back, <?= h(current_user()) ?>.
  <?php else: ?>
    Browse as a guest, or <a href="login.php">log in</a> with any name.
  <?php endif ?>
  Your cart lives in the PHP session. <span class="js-only" hidden>“Add 5 at
  once” sends five requests in parallel: the session lock keeps every one.</span>
</p>
<ul class="products">
  <?php foreach (PRODUCTS as $id => $p): ?>
  <li class="product">
    <div class="swatch" style="background: <?= h($p['color']) ?>"><?= h(substr($p['name'], 0, 1)) ?></div>
    <h2><?= h($p['name']) ?></h2>
    <p><?= h($p['blurb']) ?></p>
    <p class="price"><?= money($p['price']) ?></p>
    <form method="post" action="api.php" class="add-to-cart">
      <?= csrf_field() ?>
      <input type="hidden" name="action" value="add">
      <input type="hidden" name="product" value="<?= h($id) ?>">
      <button type="submit">Add to cart</button>
      <button type="submit" class="secondary js-only" data-parallel="5" hidden>Add 5 at once</button>
    </form>
  </li>
  <?php endforeach ?>
</ul>
<?php
page_footer();
