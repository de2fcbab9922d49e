"""Every call Ladder makes to Stripe, through the official library's ``StripeClient``.

The client is built with explicit retries (the library's ``StripeClient`` defaults to none) and timeouts; every
POST carries an idempotency key chosen by the caller, so a retry, a double click or a replay after a crash
reaches Stripe as the same request and charges once. Stripe's failures come back as three kinds of error:
``CardDeclined`` and ``AuthenticationRequired`` (the buyer's bank said no, or wants the buyer present),
``IntegrationTransientError`` (retry later) and ``IntegrationPermanentError`` (a person must fix something).
Messages carry Stripe's explanation and request id, never a key, a card detail or an e-mail address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from integrations.errors import IntegrationPermanentError, IntegrationTransientError, unreachable
from integrations.stripe.amounts import from_stripe, to_stripe


class CardDeclined(IntegrationPermanentError):
    """The card was refused. ``message`` is Stripe's buyer-facing explanation."""

    def __init__(self, *, message: str, code: str, decline_code: str, payment_intent_id: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class AuthenticationRequired(IntegrationPermanentError):
    """An off-session charge needs the buyer to authenticate (3-D Secure) on the page.

    ``client_secret`` lets Stripe.js confirm the same PaymentIntent on-session.
    """

    def __init__(self, *, payment_intent_id: str, client_secret: str, payment_method_id: str) -> None:
        super().__init__("The bank asks the buyer to confirm this payment.")
        self.payment_intent_id = payment_intent_id
        self.client_secret = client_secret
        self.payment_method_id = payment_method_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Intent:
    """What Ladder needs of a PaymentIntent."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str
    customer_id: str
    payment_method_id: str
    metadata: dict[str, str]
    failure_code: str = ""

    @classmethod
    def from_stripe(cls, obj: Any) -> Intent:
        data: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        error = data.get("last_payment_error") or {}
        currency = str(data.get("currency") or "").upper()
        return cls(
            id=str(data["id"]),
            status=str(data.get("status") or ""),
            amount=from_stripe(int(data.get("amount") or 0), currency),
            currency=currency,
            client_secret=str(data.get("client_secret") or ""),
            customer_id=_ref(data.get("customer")),
            payment_method_id=_ref(data.get("payment_method")),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            failure_code=str(error.get("decline_code") or error.get("code") or ""),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RefundResult:
    id: str
    amount: int
    status: str


def _ref(value: Any) -> str:
    """An expandable field: an id, an object with an id, or nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(getattr(value, "id", "") or "")


def _explained(error: stripe.StripeError) -> str:
    request_id = f" (request {error.request_id})" if getattr(error, "request_id", None) else ""
    return f"{error.user_message or type(error).__name__}{request_id}"


class StripeGateway:
    def __init__(
        self,
        *,
        api_key: str,
        api_base: str = "",
        max_network_retries: int = 2,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
    ) -> None:
        if not api_key:
            raise IntegrationPermanentError("Stripe is not configured: set STRIPE_SECRET_KEY.")
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=(connect_timeout, read_timeout)),
        )

    def _call(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """One API call with Stripe's errors sorted into Ladder's (after the library's own retries)."""
        try:
            return call(*args, **kwargs)
        except stripe.CardError as error:
            body = error.error.to_dict() if error.error is not None else {}
            intent = body.get("payment_intent") or {}
            if error.code == "authentication_required":
                raise AuthenticationRequired(
                    payment_intent_id=str(intent.get("id") or ""),
                    client_secret=str(intent.get("client_secret") or ""),
                    payment_method_id=_ref(body.get("payment_method") or intent.get("payment_method")),
                ) from None
            raise CardDeclined(
                message=error.user_message or "The card was declined.",
                code=str(error.code or "card_declined"),
                decline_code=str(body.get("decline_code") or ""),
                payment_intent_id=str(intent.get("id") or ""),
            ) from None
        except stripe.APIConnectionError as error:  # its message quotes the request's URL: never passed on
            raise unreachable("Stripe", error) from None
        except stripe.RateLimitError as error:
            raise IntegrationTransientError(f"Stripe is rate limiting: {_explained(error)}") from None
        except stripe.APIError as error:
            raise IntegrationTransientError(f"Stripe answered with an error: {_explained(error)}") from None
        except stripe.IdempotencyError as error:
            raise IntegrationPermanentError(
                f"Stripe refused a repeated request with different details: {_explained(error)}"
            ) from None
        except stripe.StripeError as error:
            status = getattr(error, "http_status", None) or 0
            if status == 409 or status >= 500:
                raise IntegrationTransientError(f"Stripe answered {status}: {_explained(error)}") from None
            raise IntegrationPermanentError(f"Stripe refused the request: {_explained(error)}") from None

    def customer_create(self, *, email: str, name: str, lead_ref: str, idempotency_key: str) -> str:
        customer = self._call(
            self._client.v1.customers.create,
            params={"email": email, "name": name, "metadata": {"lead": lead_ref}},
            options={"idempotency_key": idempotency_key},
        )
        return str(customer.id)

    def checkout_intent_create(
        self, *, amount_minor: int, currency: str, customer_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> Intent:
        """A PaymentIntent the page confirms with Stripe.js; the card is saved for one-click offers after it."""
        intent = self._call(
            self._client.v1.payment_intents.create,
            params={
                "amount": to_stripe(amount_minor, currency),
                "currency": currency.lower(),
                "customer": customer_id,
                "setup_future_usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
        return Intent.from_stripe(intent)

    def off_session_charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        """Charge the saved card now, without the buyer. Raises CardDeclined or AuthenticationRequired."""
        intent = self._call(
            self._client.v1.payment_intents.create,
            params={
                "amount": to_stripe(amount_minor, currency),
                "currency": currency.lower(),
                "customer": customer_id,
                "payment_method": payment_method_id,
                "off_session": True,
                "confirm": True,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
        return Intent.from_stripe(intent)

    def intent_retrieve(self, intent_id: str) -> Intent:
        return Intent.from_stripe(self._call(self._client.v1.payment_intents.retrieve, intent_id))

    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": payment_intent_id,
            "amount": to_stripe(amount_minor, currency),
            "metadata": metadata,
        }
        if reason:
            params["reason"] = reason
        refund = self._call(self._client.v1.refunds.create, params=params, options={"idempotency_key": idempotency_key})
        return RefundResult(
            id=str(refund.id), amount=from_stripe(int(refund.amount), currency), status=str(refund.status or "")
        )
