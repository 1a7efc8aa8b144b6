// Progressive enhancement for the product page: "Add to cart" becomes an
// AJAX call to api.php that updates the cart badge without a page load.
// "Add 5 at once" sends five of those calls in parallel, as a page with
// several AJAX calls in flight does: each adds one, and the session lock
// makes the server run them one after the other, so the cart counts all
// five. Without JavaScript the forms post normally (and "Add 5 at once"
// stays hidden).
'use strict';

document.querySelectorAll('.js-only').forEach((e) => { e.hidden = false; });

function addOne(form) {
  // getAttribute: form.action would be the form's <input name="action">.
  return fetch(form.getAttribute('action'), {
    method: 'POST',
    body: new FormData(form),
    headers: { 'Accept': 'application/json' },
    credentials: 'same-origin',
  }).then(async (response) => {
    const reply = await response.json();
    if (!reply.ok) throw new Error(reply.error || 'request failed');
    return reply;
  });
}

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains('add-to-cart')) return;
  event.preventDefault();
  const times = Number(event.submitter?.dataset.parallel || 1);
  const buttons = form.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try {
    const replies = await Promise.all(
      Array.from({ length: times }, () => addOne(form)));
    // The replies may arrive in any order: the last add saw the most.
    const count = Math.max(...replies.map((r) => r.count));
    const badge = document.getElementById('cart-count');
    badge.textContent = String(count);
    badge.classList.remove('bump');
    void badge.offsetWidth;  // restart the animation
    badge.classList.add('bump');
    showFlash(times === 1 ? replies[0].message
      : `Added ${times} × ${replies[0].name} to your cart, in ${times} parallel requests.`);
  } catch (err) {
    showFlash('Could not add to the cart: ' + err.message);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    form.removeAttribute('aria-busy');
  }
});

function showFlash(text) {
  const box = document.getElementById('flash');
  const p = document.createElement('p');
  p.className = 'flash';
  p.textContent = text;
  box.replaceChildren(p);
}
