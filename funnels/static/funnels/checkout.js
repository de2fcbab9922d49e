// Ladder's card checkout: the card goes from Stripe.js straight to Stripe; Ladder only opens the payment
// (the total is worked out on the server) and then waits for Stripe's word that it was paid.
(function () {
  "use strict";
  const root = document.querySelector("[data-checkout]");
  if (!root || typeof window.Stripe !== "function") return;
  const stripe = window.Stripe(root.dataset.key);
  const errors = root.querySelector("[data-errors]");

  function show(message) {
    errors.textContent = message || "";
    errors.hidden = !message;
  }

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // The bank wants the buyer to confirm a one-click payment: confirm it with the card saved at checkout.
  if (root.dataset.confirmSecret) {
    const button = root.querySelector("[data-confirm]");
    button.addEventListener("click", async () => {
      button.disabled = true;
      show("");
      const result = await stripe.confirmCardPayment(root.dataset.confirmSecret, {
        payment_method: root.dataset.paymentMethod,
      });
      if (result.error) {
        show(result.error.message || "The payment was not confirmed.");
        button.disabled = false;
        return;
      }
      window.location.assign(root.dataset.nextUrl);
    });
    return;
  }

  const card = stripe.elements().create("card");
  card.mount(root.querySelector("[data-card]"));
  const form = root.querySelector("form");
  const button = form.querySelector("button[type=submit]");
  let submission = form.elements.submission_id.value;
  let answered = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    show("");
    const data = new FormData(form);
    // The same choices reuse the same order and payment; changed choices (a bump, a coupon) make a new one.
    const choices = JSON.stringify(
      [...data.entries()].filter(([name]) => name !== "submission_id" && name !== "csrfmiddlewaretoken"),
    );
    if (answered !== null && choices !== answered) submission = newId();
    answered = choices;
    data.set("submission_id", submission);
    try {
      const response = await fetch(root.dataset.startUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: {Accept: "application/json"},
      });
      const body = await response.json();
      if (!response.ok) {
        show(Object.values(body.errors || {}).flat().join(" ") || "Please check the form.");
        button.disabled = false;
        return;
      }
      const result = await stripe.confirmCardPayment(body.client_secret, {payment_method: {card}});
      if (result.error) {
        show(result.error.message || "The card was not accepted.");
        button.disabled = false;
        return;
      }
      window.location.assign(body.next_url);
    } catch (failure) {
      show("Something went wrong before the card was charged. Please try again.");
      button.disabled = false;
    }
  });
})();
