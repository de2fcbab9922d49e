// A stand-in for Stripe.js v3 served by the loopback Stripe fake (tests/fakes/stripe_api.py).
// It offers the calls Ladder's pages make: Stripe(key).elements().create("card").mount(el) and
// confirmCardPayment(clientSecret, {payment_method: cardElement | "pm_..."}). A confirmation that needs
// 3-D Secure shows a dialog with "Complete authentication" and "Fail authentication" buttons.
(function () {
  const base = new URL(document.currentScript.src).origin;

  async function post(path, fields) {
    const body = new URLSearchParams(fields);
    const response = await fetch(base + path, {method: "POST", body});
    const data = await response.json();
    return {ok: response.ok, data};
  }

  function ask() {
    return new Promise((resolve) => {
      const box = document.createElement("div");
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-label", "3-D Secure");
      box.style.cssText = "position:fixed;inset:30% 20%;background:#fff;border:2px solid #333;padding:1em;z-index:9";
      const text = document.createElement("p");
      text.textContent = "Test bank: confirm this payment?";
      box.appendChild(text);
      for (const [label, answer] of [["Complete authentication", true], ["Fail authentication", false]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.onclick = () => { box.remove(); resolve(answer); };
        box.appendChild(button);
      }
      document.body.appendChild(box);
    });
  }

  class CardElement {
    constructor() { this.inputs = {}; }
    mount(target) {
      const el = typeof target === "string" ? document.querySelector(target) : target;
      for (const [name, placeholder] of [["number", "Card number"], ["exp", "MM / YY"], ["cvc", "CVC"]]) {
        const input = document.createElement("input");
        input.name = "card-" + name;
        input.placeholder = placeholder;
        input.setAttribute("aria-label", placeholder);
        el.appendChild(input);
        this.inputs[name] = input;
      }
    }
    on() {}
  }

  window.Stripe = function (key) {
    return {
      elements() { return {create() { return new CardElement(); }}; },
      async confirmCardPayment(clientSecret, data) {
        const id = clientSecret.split("_secret_")[0];
        const fields = {key, client_secret: clientSecret};
        const method = data && data.payment_method;
        if (method && method.card instanceof CardElement) {
          fields["payment_method_data[type]"] = "card";
          fields["payment_method_data[card][number]"] = method.card.inputs.number.value.replace(/\s/g, "");
        } else if (typeof method === "string") {
          fields.payment_method = method;
        }
        let answer = await post(`/v1/payment_intents/${id}/confirm`, fields);
        if (answer.ok && answer.data.status === "requires_action") {
          const success = await ask();
          answer = await post(`/v1/payment_intents/${id}/_authenticate`, {key, client_secret: clientSecret, success});
          if (answer.ok && answer.data.status !== "succeeded") {
            return {error: {type: "card_error", message: "We are unable to authenticate your payment method."}};
          }
        }
        return answer.ok ? {paymentIntent: answer.data} : {error: answer.data.error};
      },
    };
  };
})();
