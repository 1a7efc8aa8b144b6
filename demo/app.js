// Progressive enhancement for the product page: "Add to cart" becomes an
// AJAX call to api.php that updates the cart badge without a page load.
// Without JavaScript the same forms post normally.
'use strict';

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains('add-to-cart')) return;
  event.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: 'POST',
      body: new FormData(form),
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin',
    });
    const reply = await response.json();
    if (!reply.ok) throw new Error(reply.error || 'request failed');
    const badge = document.getElementById('cart-count');
    badge.textContent = String(reply.count);
    badge.classList.remove('bump');
    void badge.offsetWidth;  // restart the animation
    badge.classList.add('bump');
    showFlash(reply.message);
  } catch (err) {
    showFlash('Could not add to the cart: ' + err.message);
  } finally {
    button.disabled = false;
  }
});

function showFlash(text) {
  const box = document.getElementById('flash');
  const p = document.createElement('p');
  p.className = 'flash';
  p.textContent = text;
  box.replaceChildren(p);
}
