"""A loopback stand-in for the parts of Stripe's API that Ladder uses, with Stripe's rules.

localstripe covers customers, payment methods and off-session charges, but refuses ``setup_future_usage``, has
no 402 ``authentication_required`` and no idempotency keys, and its Stripe.js stand-in cannot confirm a card
PaymentIntent. This fake covers exactly those, and answers like Stripe does:

* form-encoded requests authenticated by the secret key; the browser confirms with the publishable key and
  the intent's client secret, as Stripe.js does;
* idempotency keys: the first answer is replayed (errors included); the same key with different parameters is
  refused; a key still being served answers 409;
* unknown parameters are refused (``Received unknown parameter``), amounts under the currency minimum too;
* Stripe's test cards (https://docs.stripe.com/testing): 4242… succeeds, 9995 insufficient funds, 0002 declined,
  3184 always asks for 3-D Secure (402 ``authentication_required`` off-session, ``requires_action`` on it),
  3155 asks once and then charges off-session, 0341 attaches but every charge is declined;
* faults on demand (``fail_next``): 409 or 5xx answers to exercise the library's retries;
* events: each is kept in ``events`` and, when ``webhook_url`` is set, POSTed there signed with the secret.

It also serves a Stripe.js stand-in at ``/v3/`` with ``elements().create("card")`` and ``confirmCardPayment``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

SECRET_KEY = "sk_test_ladderfake"
PUBLISHABLE_KEY = "pk_test_ladderfake"
WEBHOOK_SECRET = "whsec_ladderfake"
STRIPE_JS = Path(__file__).with_name("stripe_js_standin.js")

MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50}

# card number -> (on-session outcome, off-session outcome); outcomes: ok, auth, or a decline code
CARDS = {
    "4242424242424242": ("ok", "ok"),
    "4000000000009995": ("insufficient_funds", "insufficient_funds"),
    "4000000000000002": ("generic_decline", "generic_decline"),
    "4000002760003184": ("auth", "auth"),
    "4000002500003155": ("auth", "ok_after_setup"),
    "4000000000000341": ("generic_decline", "generic_decline"),
}
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "generic_decline": "Your card was declined.",
}
PI_PARAMS = {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "payment_method_types",
    "setup_future_usage",
    "off_session",
    "confirm",
    "metadata",
    "description",
    "receipt_email",
}


class StripeAnswer(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def _invalid(message: str, param: str = "", code: str = "parameter_invalid") -> StripeAnswer:
    return StripeAnswer(400, {"type": "invalid_request_error", "message": message, "param": param, "code": code})


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][c]=v`` and ``a[0]=v`` form keys into nested dicts and lists, as Stripe reads them."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = out
        for part, nxt in zip(parts, [*parts[1:], None], strict=True):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return {k: _listify(v) for k, v in out.items()}


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [_listify(value[k]) for k in sorted(value, key=int)]
        return {k: _listify(v) for k, v in value.items()}
    return value


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


@dataclass
class FakeStripe:
    base_url: str = ""
    webhook_url: str = ""
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    charges_made: int = 0
    deliveries: list[threading.Thread] = field(default_factory=list)
    _faults: list[tuple[int, str]] = field(default_factory=list)
    _holds: dict[str, float] = field(default_factory=dict)
    _idempotent: dict[str, tuple[str, int, dict[str, Any]] | None] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- test controls ------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int, path_prefix: str = "/v1/") -> None:
        """The next ``count`` API requests under ``path_prefix`` answer ``status`` (409 or 5xx)."""
        with self._lock:
            self._faults.extend([(status, path_prefix)] * count)

    def hold_answers(self, path_prefix: str, seconds: float) -> None:
        """Requests under ``path_prefix`` are carried out, then answered ``seconds`` late (0 ends it): a client can
        die between Stripe acting and learning that it did."""
        with self._lock:
            self._holds[path_prefix] = seconds

    def held_for(self, path: str) -> float:
        with self._lock:
            return max((s for prefix, s in self._holds.items() if path.startswith(prefix)), default=0.0)

    def card(self, number: str, *, customer: str = "") -> str:
        """A payment method for a test card, attached and set up for off-session use when ``customer`` is given."""
        pm = self._payment_method_create({"type": "card", "card": {"number": number}})
        if customer:
            pm["customer"] = customer
            pm["_setup"] = True
        return str(pm["id"])

    def posts(self, path_prefix: str) -> list[dict[str, Any]]:
        return [
            params for method, path, params, _ in self.requests if method == "POST" and path.startswith(path_prefix)
        ]

    # --- objects ------------------------------------------------------------------------------------------

    def _payment_method_create(self, data: dict[str, Any]) -> dict[str, Any]:
        number = str((data.get("card") or {}).get("number") or "").replace(" ", "")
        if number not in CARDS:
            raise StripeAnswer(
                402,
                {"type": "card_error", "code": "incorrect_number", "message": "Your card number is incorrect."},
            )
        pm_id = f"pm_{secrets.token_hex(8)}"
        pm = {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "card": {"brand": "visa", "last4": number[-4:]},
            "customer": None,
            "_number": number,
            "_setup": False,
        }
        self.payment_methods[pm_id] = pm
        return pm

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _event(self, type_: str, obj: dict[str, Any]) -> None:
        event = {
            "id": f"evt_{secrets.token_hex(10)}",
            "object": "event",
            "type": type_,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": json.loads(json.dumps(self._public(obj)))},
        }
        self.events.append(event)
        if self.webhook_url:
            delivery = threading.Thread(target=self._deliver, args=(event,), daemon=True)
            self.deliveries.append(delivery)
            delivery.start()

    def deliveries_finish(self) -> None:
        """Wait for webhooks still on their way, so a test's database is not cleared under them."""
        for delivery in list(self.deliveries):
            delivery.join(timeout=15)

    def _deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
        request = urllib.request.Request(  # noqa: S310 (a loopback URL the test set)
            self.webhook_url,
            data=body.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            method="POST",
        )
        for _ in range(5):
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback URL set by the test)
                    return
            except OSError:
                time.sleep(0.2)

    def _intent_create(self, p: dict[str, Any]) -> dict[str, Any]:
        unknown = set(p) - PI_PARAMS
        if unknown:
            name = sorted(unknown)[0]
            raise _invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")
        try:
            amount = int(p.get("amount", ""))
        except ValueError:
            raise _invalid("Invalid integer: amount", "amount") from None
        currency = str(p.get("currency") or "")
        if currency != currency.lower() or len(currency) != 3:
            raise _invalid("Invalid currency: use a lowercase three-letter ISO code.", "currency")
        if amount < MINIMUM_CHARGE.get(currency, 1):
            raise _invalid("Amount must be at least the currency's minimum charge.", "amount", "amount_too_small")
        customer = str(p.get("customer") or "")
        if customer and customer not in self.customers:
            raise _invalid(f"No such customer: '{customer}'", "customer", "resource_missing")
        pm_id = str(p.get("payment_method") or "")
        if pm_id:
            pm = self.payment_methods.get(pm_id)
            if pm is None:
                raise _invalid(f"No such PaymentMethod: '{pm_id}'", "payment_method", "resource_missing")
            if pm["customer"] and pm["customer"] != customer:
                raise _invalid("The PaymentMethod belongs to another customer.", "payment_method")
        usage = str(p.get("setup_future_usage") or "")
        if usage not in ("", "on_session", "off_session"):
            raise _invalid("Invalid setup_future_usage.", "setup_future_usage")
        off_session, confirm = _bool(p.get("off_session")), _bool(p.get("confirm"))
        if off_session and not confirm:
            raise _invalid("off_session can only be used with confirm=true.", "off_session")
        if off_session and not pm_id:
            raise _invalid("An off-session payment needs a payment_method.", "payment_method")
        intent_id = f"pi_{secrets.token_hex(10)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer or None,
            "payment_method": pm_id or None,
            "setup_future_usage": usage or None,
            "status": "requires_confirmation" if pm_id else "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "metadata": p.get("metadata") or {},
            "last_payment_error": None,
            "next_action": None,
            "latest_charge": None,
        }
        self.intents[intent_id] = intent
        if confirm:
            self._confirm(intent, off_session=off_session)
        return intent

    def _confirm(self, intent: dict[str, Any], *, off_session: bool) -> None:
        pm = self.payment_methods[intent["payment_method"]]
        on_outcome, off_outcome = CARDS[pm["_number"]]
        outcome = on_outcome
        if off_session:
            outcome = "ok" if off_outcome == "ok_after_setup" and pm["_setup"] else off_outcome
            if off_outcome == "ok_after_setup" and not pm["_setup"]:
                outcome = "auth"
        if outcome == "auth" and not off_session:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk"}
            return
        if outcome == "auth":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"code": "authentication_required", "type": "card_error"}
            self._event("payment_intent.payment_failed", intent)
            raise StripeAnswer(
                402,
                {
                    "type": "card_error",
                    "code": "authentication_required",
                    "decline_code": "authentication_required",
                    "message": "Your card was declined. This transaction requires authentication.",
                    "payment_intent": self._public(intent),
                    "payment_method": self._public(pm),
                },
            )
        if outcome != "ok":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "code": "card_declined",
                "decline_code": outcome,
                "type": "card_error",
                "message": DECLINE_MESSAGES[outcome],
            }
            self._event("payment_intent.payment_failed", intent)
            raise StripeAnswer(
                402,
                {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": outcome,
                    "message": DECLINE_MESSAGES[outcome],
                    "payment_intent": self._public(intent),
                },
            )
        self._succeed(intent, pm)

    def _succeed(self, intent: dict[str, Any], pm: dict[str, Any]) -> None:
        if intent["setup_future_usage"] == "off_session" and intent["customer"]:
            pm["customer"], pm["_setup"] = intent["customer"], True
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["next_action"] = None
        intent["latest_charge"] = f"ch_{secrets.token_hex(10)}"
        self.charges_made += 1
        self._event("payment_intent.succeeded", intent)

    def _browser_confirm(self, intent_id: str, p: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent_for_browser(intent_id, p)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise _invalid(f"This PaymentIntent's status is {intent['status']}; it cannot be confirmed.")
        if p.get("payment_method_data"):
            intent["payment_method"] = self._payment_method_create(p["payment_method_data"])["id"]
        elif p.get("payment_method"):
            if p["payment_method"] not in self.payment_methods:
                raise _invalid("No such PaymentMethod.", "payment_method", "resource_missing")
            intent["payment_method"] = p["payment_method"]
        if not intent["payment_method"]:
            raise _invalid("A payment method is needed.", "payment_method")
        intent["last_payment_error"] = None
        self._confirm(intent, off_session=False)
        return intent

    def _intent_for_browser(self, intent_id: str, p: dict[str, Any]) -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if p.get("key") != PUBLISHABLE_KEY or intent is None or p.get("client_secret") != intent["client_secret"]:
            raise StripeAnswer(401, {"type": "invalid_request_error", "message": "Invalid client secret or key."})
        return intent

    def _authenticate(self, intent_id: str, p: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent_for_browser(intent_id, p)
        if intent["status"] != "requires_action":
            raise _invalid("Nothing to authenticate.")
        if _bool(p.get("success")):
            self._succeed(intent, self.payment_methods[intent["payment_method"]])
        else:
            intent["status"] = "requires_payment_method"
            intent["next_action"] = None
            intent["last_payment_error"] = {"code": "payment_intent_authentication_failure", "type": "card_error"}
            self._event("payment_intent.payment_failed", intent)
        return intent

    def _refund_create(self, p: dict[str, Any]) -> dict[str, Any]:
        unknown = set(p) - {"payment_intent", "amount", "reason", "metadata"}
        if unknown:
            name = sorted(unknown)[0]
            raise _invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")
        intent = self.intents.get(str(p.get("payment_intent") or ""))
        if intent is None or intent["status"] != "succeeded":
            raise _invalid("This PaymentIntent has no successful charge to refund.", "payment_intent")
        if p.get("reason") and p["reason"] not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise _invalid("Invalid reason.", "reason")
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"])
        amount = int(p.get("amount") or intent["amount"] - refunded)
        if amount <= 0 or refunded + amount > intent["amount"]:
            raise _invalid("Refund amount is greater than the unrefunded amount.", "amount", "amount_too_large")
        refund = {
            "id": f"re_{secrets.token_hex(10)}",
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "reason": p.get("reason"),
            "status": "succeeded",
            "metadata": p.get("metadata") or {},
        }
        self.refunds[refund["id"]] = refund
        mine = [self._public(r) for r in self.refunds.values() if r["payment_intent"] == intent["id"]]
        self._event(
            "charge.refunded",
            {
                "id": intent["latest_charge"],
                "object": "charge",
                "payment_intent": intent["id"],
                "amount": intent["amount"],
                "amount_refunded": refunded + amount,
                "currency": intent["currency"],
                "refunds": {"object": "list", "data": mine},
            },
        )
        return refund

    # --- dispatch -----------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, Any], auth: str, key: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, params, key))
            for i, (status, prefix) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[i]
                    return status, {"error": {"type": "api_error", "message": f"Injected {status}."}}
        browser = path.endswith(("/confirm", "/_authenticate"))
        if not browser and auth != f"Bearer {SECRET_KEY}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}
        if method == "POST" and key:
            fingerprint = hashlib.sha256(json.dumps([path, params], sort_keys=True).encode()).hexdigest()
            with self._lock:
                if key in self._idempotent:
                    stored = self._idempotent[key]
                    if stored is None:
                        return 409, {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use"}}
                    if stored[0] != fingerprint:
                        return 400, {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same parameters.",
                            }
                        }
                    return stored[1], stored[2]
                self._idempotent[key] = None
            status, body = self._route(method, path, params)
            with self._lock:
                self._idempotent[key] = (fingerprint, status, body)
            return status, body
        return self._route(method, path, params)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        try:
            with self._lock:
                return 200, self._public(self._dispatch(method, parts, params))
        except StripeAnswer as answer:
            return answer.status, {"error": answer.error}

    def _dispatch(self, method: str, parts: list[str], p: dict[str, Any]) -> dict[str, Any]:
        match method, parts:
            case "POST", ["v1", "customers"]:
                customer = {"id": f"cus_{secrets.token_hex(8)}", "object": "customer", **p}
                self.customers[customer["id"]] = customer
                return customer
            case "GET", ["v1", "customers", cid] if cid in self.customers:
                return self.customers[cid]
            case "POST", ["v1", "payment_intents"]:
                return self._intent_create(p)
            case "GET", ["v1", "payment_intents", pid] if pid in self.intents:
                return self.intents[pid]
            case "POST", ["v1", "payment_intents", pid, "confirm"]:
                return self._browser_confirm(pid, p)
            case "POST", ["v1", "payment_intents", pid, "_authenticate"]:
                return self._authenticate(pid, p)
            case "POST", ["v1", "refunds"]:
                return self._refund_create(p)
        raise StripeAnswer(404, {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method})."})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        return

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path == "/v3/":
            self._answer(200, STRIPE_JS.read_bytes(), "application/javascript")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = _nested(parse_qsl(url.query, keep_blank_values=True) + parse_qsl(raw, keep_blank_values=True))
        status, body = self.server.fake.handle(
            method,
            url.path,
            params,
            self.headers.get("Authorization", ""),
            self.headers.get("Idempotency-Key", ""),
        )
        if held := self.server.fake.held_for(url.path):
            time.sleep(held)
        self._answer(status, json.dumps(body).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeStripe(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.fake.deliveries_finish()
        server.shutdown()
        server.server_close()
