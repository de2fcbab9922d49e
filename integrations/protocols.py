"""What Ladder asks of an outside system it sends people to, as Protocols the adapters implement.

An audience destination (``AudienceUploader`` in ``audience_upload``) adds and removes batches of hashed people;
what only some platforms can do is a capability of its own, checked with ``isinstance`` rather than by probing for
attributes: a full replace (Meta), requests applied later and asked about (Google), a sync applied as one job when
it closes (the Google Ads API), and payloads worth keeping (the sandbox). Hashers turn one ``Person`` into a
platform's hashed identifiers. A payment provider is a ``PaymentGateway``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from integrations.audience_upload import UploadResult, UploadRow

if TYPE_CHECKING:  # the provider's answers, as values (the gateway module imports the provider's client)
    from integrations.stripe.gateway import Intent, RefundResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone's identifiers as Ladder stores them, before any platform's normalization."""

    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    external_id: str = ""  # Ladder's own id for the person, where the platform takes one
    phone_is_stored: bool = False  # the phone is already E.164 (as Ladder stores it), not as someone typed it


class Hasher(Protocol):
    def hashes(self, person: Person) -> dict[str, str]: ...


@runtime_checkable
class Replaceable(Protocol):
    """Replaces the platform's audience with exactly the rows given, in a session of batches."""

    def replace(self, rows: list[UploadRow], *, first: bool, last: bool) -> UploadResult: ...


@runtime_checkable
class AppliedLater(Protocol):
    """Takes requests to apply later; what became of one is asked for by its id."""

    def request_status(self, request_id: str) -> Any: ...


@runtime_checkable
class AppliedOnClose(Protocol):
    """Collects a sync's batches into one job that runs when the sync closes it."""

    def close(self) -> None: ...


@runtime_checkable
class KeepsPayloads(Protocol):
    """Sends nothing anywhere: each batch's payload is kept instead, to show what would have been sent."""

    records_payload: bool


class PaymentGateway(Protocol):
    """What the money flows ask of a payment provider (Stripe, ``integrations.stripe.gateway.StripeGateway``). Every
    call that creates something takes the caller's idempotency key, so a retry or a double click charges once."""

    def customer_create(self, *, email: str, name: str, lead_ref: str, idempotency_key: str) -> str: ...

    def checkout_intent_create(
        self, *, amount_minor: int, currency: str, customer_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> Intent: ...

    def off_session_charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent: ...

    def intent_retrieve(self, intent_id: str) -> Intent: ...

    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundResult: ...
