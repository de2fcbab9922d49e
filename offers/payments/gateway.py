"""The Stripe gateway as configured, the customer a charge goes to, and the page a charge is made from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from integrations.protocols import PaymentGateway
from integrations.stripe.gateway import StripeGateway
from offers.models import Order, Payment

UNREACHABLE = "We could not reach the payment provider, so nothing was charged. Please try again in a moment."


def payments_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_PUBLISHABLE_KEY)


def stripe_gateway() -> PaymentGateway:
    return StripeGateway(
        api_key=settings.STRIPE_SECRET_KEY,
        api_base=settings.STRIPE_API_BASE,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        connect_timeout=settings.STRIPE_CONNECT_TIMEOUT,
        read_timeout=settings.STRIPE_READ_TIMEOUT,
    )


def _metadata(payment: Payment) -> dict[str, str]:
    data = {"order": str(payment.order.public_id), "payment": str(payment.pk), "kind": payment.kind}
    if payment.offer_id:
        data["offer"] = str(payment.offer_id)
    return data


def _customer_for(order: Order, gateway: PaymentGateway) -> str:
    """The lead's Stripe customer: the one an earlier order made, or a new one (keyed by the lead)."""
    if order.stripe_customer_id:
        return order.stripe_customer_id
    earlier = (
        Order.objects.filter(lead_id=order.lead_id)
        .exclude(stripe_customer_id="")
        .values_list("stripe_customer_id", flat=True)
    ).first()
    lead = order.lead
    customer_id = earlier or gateway.customer_create(
        email=lead.email,
        name=lead.full_name,
        lead_ref=str(lead.public_id),
        idempotency_key=f"customer:{lead.public_id}",
    )
    Order.objects.filter(pk=order.pk).update(stripe_customer_id=customer_id)
    order.stripe_customer_id = customer_id
    return customer_id


@dataclass(frozen=True, kw_only=True, slots=True)
class PageOrigin:
    """The funnel page a charge is made from: its visitor, step and split-test variant. Kept on the payment so the
    purchase it becomes (whenever Stripe confirms it) is credited to them."""

    visitor_id: uuid.UUID | None = None
    step_id: int | None = None
    variant_id: int | None = None

    def as_fields(self) -> dict[str, object]:
        return {"visitor_id": self.visitor_id, "step_id": self.step_id, "variant_id": self.variant_id}
