<?php
// The cart: what is in the session, with totals. POST remove=ID or clear=1
// changes it.
declare(strict_types=1);
require __DIR__ . '/_app.php';

app_session_start();
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    if (!csrf_ok()) {
        flash('Error: missing or wrong CSRF token; reload the page.');
    } elseif (isset($_POST['clear'])) {
        $_SESSION['cart'] = [];
        flash('Your cart is empty now.');
    } elseif (is_string($_POST['remove'] ?? null) && isset($_SESSION['cart'][$_POST['remove']])) {
        unset($_SESSION['cart'][$_POST['remove']]);
        flash('Removed.');
    }
    redirect('cart.php');
}

page_header('Your cart', 'cart.php');
$cart = $_SESSION['cart'];
$total = 0;
?>
<?php if ($cart === []): ?>
  <p class="empty">Your cart is empty. <a href="index.php">Browse the products</a>.</p>
<?php else: ?>
  <table class="cart">
    <thead><tr><th>Product</th><th class="num">Quantity</th><th class="num">Price</th><th class="num">Subtotal</th><th></th></tr></thead>
    <tbody>
    <?php foreach ($cart as $id => $qty):
        if (!isset(PRODUCTS[$id])) {
            continue;
        }
        $p = PRODUCTS[$id];
        $total += $qty * $p['price']; ?>
      <tr>
        <td><?= h($p['name']) ?></td>
        <td class="num qty"><?= (int) $qty ?></td>
        <td class="num"><?= money($p['price']) ?></td>
        <td class="num"><?= money($qty * $p['price']) ?></td>
        <td><form method="post" class="inline"><?= csrf_field() ?>
          <button type="submit" name="remove" value="<?= h((string) $id) ?>" class="link">remove</button></form></td>
      </tr>
    <?php endforeach ?>
    </tbody>
    <tfoot><tr><th>Total</th><td class="num"><?= cart_count() ?></td><td></td><td class="num"><?= money($total) ?></td><td></td></tr></tfoot>
  </table>
  <form method="post" class="actions"><?= csrf_field() ?>
    <button type="submit" name="clear" value="1" class="secondary">Empty the cart</button>
    <?php if (current_user() === null): ?>
      <span class="hint"><a href="login.php">Log in</a> to check out (your cart comes with you).</span>
    <?php else: ?>
      <span class="hint">Checkout is not part of this demo, <?= h(current_user()) ?>.</span>
    <?php endif ?>
  </form>
<?php endif ?>
<?php
page_footer();
