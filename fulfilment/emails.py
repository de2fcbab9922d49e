"""Sending receipts and refund confirmations from the ``BuyerEmail`` outbox: each row once (its row locked while it
is sent), built from the order as it stands, in plain text and HTML, with the merchant's name and address, what
was bought in the order's currency, the coupon, the download links and how to ask for a refund.

A mail server that is down or busy is retried with backoff; one that refuses the address for good fails the row
with the server's code (never the address). An erased buyer's mail is dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from common.mail import permanent_refusal
from common.money import format_money
from fulfilment.library import access_url, library_url
from fulfilment.models import Access, BuyerEmail, ReceiptStyle
from leads.mail import address_undeliverable
from offers.models import CouponRedemption, OrderLine

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


def _lines(email: BuyerEmail) -> list[OrderLine]:
    lines = OrderLine.objects.filter(order_id=email.order_id).select_related("offer__product").order_by("id")
    if email.payment_id is not None:
        lines = lines.filter(payment_id=email.payment_id)
    return list(lines)


PLACEHOLDER = re.compile(r"\{(first_name|merchant|order|product)\}")


def receipt_style(funnel_id: int | None) -> ReceiptStyle:
    """The funnel's own style, else the default one, else the built-in words (an unsaved style)."""
    styles = ReceiptStyle.objects.filter(Q(funnel_id=funnel_id) | Q(funnel__isnull=True)).order_by("funnel_id", "pk")
    own = [style for style in styles if style.funnel_id is not None and style.funnel_id == funnel_id]
    return own[0] if own else next(iter(styles), ReceiptStyle())


def fill(text: str, values: dict[str, str]) -> str:
    """The marketer's text with its placeholders filled (only the named ones; nothing else in it is evaluated)."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def email_context(email: BuyerEmail) -> dict[str, Any]:
    """What a receipt or refund confirmation says (the admin's preview shows the same)."""
    order, lead = email.order, email.lead
    lines = _lines(email) if email.kind == BuyerEmail.Kind.RECEIPT else []
    currency = order.currency
    rows = [
        {
            "description": line.description,
            "price": format_money(line.amount_minor, currency),
            "discount": format_money(-line.discount_minor, currency) if line.discount_minor else "",
            "paid": format_money(line.charged_minor, currency),
        }
        for line in lines
    ]
    accesses = Access.objects.filter(order_line__in=lines, revoked_at__isnull=True).select_related("deliverable")
    context: dict[str, Any] = {
        "kind": email.kind,
        "lead": lead,
        "order": order,
        "number": order.pk,
        "rows": rows,
        "total": format_money(sum(line.charged_minor for line in lines), currency),
        "coupon": _coupon(order.pk),
        "links": [(a.deliverable.title, access_url(a)) for a in accesses.order_by("deliverable__position", "pk")],
        "library": library_url(),
        "merchant": settings.MERCHANT_NAME,
        "address": settings.MERCHANT_ADDRESS,
        "support": settings.MERCHANT_SUPPORT_EMAIL,
        "paid_at": order.paid_at,
    }
    style = receipt_style(order.funnel_id)
    values = {
        "first_name": lead.first_name or "there",
        "merchant": settings.MERCHANT_NAME,
        "order": str(order.pk),
        "product": lines[0].description if lines else "",
    }
    context.update(
        subject=fill(style.subject, values),
        intro=fill(style.intro, values),
        closing=fill(style.closing, values),
        accent=style.accent,
        logo=style.logo_url,
    )
    if email.refund is not None:
        refund = email.refund
        context.update(
            refund_amount=format_money(refund.amount_minor, refund.currency),
            refunded_total=format_money(order.refunded_minor, currency),
            refunded_at=refund.created_at,
        )
    return context


def _coupon(order_id: int) -> str:
    redemption = CouponRedemption.objects.filter(order_id=order_id).select_related("coupon").first()
    return redemption.coupon.code if redemption is not None else ""


def email_message(email: BuyerEmail) -> EmailMultiAlternatives:
    context = email_context(email)
    name = "receipt" if email.kind == BuyerEmail.Kind.RECEIPT else "refund"
    subject = (
        context["subject"]
        if email.kind == BuyerEmail.Kind.RECEIPT
        else f"Your refund from {settings.MERCHANT_NAME} (order {email.order_id})"
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"fulfilment/emails/{name}.txt", context),
        to=[email.lead.email],
        reply_to=[settings.MERCHANT_SUPPORT_EMAIL] if settings.MERCHANT_SUPPORT_EMAIL else None,
    )
    message.attach_alternative(render_to_string(f"fulfilment/emails/{name}.html", context), "text/html")
    # A provider's backend (django-anymail) sends this along and reports it back with deliveries and openings.
    message.metadata = {"buyer_email": str(email.pk)}  # type: ignore[attr-defined]
    return message


TRACKED = {"delivered": "delivered_at", "opened": "opened_at", "clicked": "opened_at"}


def on_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """Anymail's tracking signal: a receipt's delivery and first opening, as the provider reports them."""
    column = TRACKED.get(str(getattr(event, "event_type", "")))
    ident = (getattr(event, "metadata", None) or {}).get("buyer_email", "")
    if column is None or not str(ident).isdigit():
        return
    moment = getattr(event, "timestamp", None) or timezone.now()
    BuyerEmail.objects.filter(pk=int(ident), **{f"{column}__isnull": True}).update(**{column: moment})


def emails_send(*, limit: int = 100, now: dt.datetime | None = None) -> int:
    """Send up to ``limit`` due e-mails, oldest first; returns how many were sent."""
    now = now or timezone.now()
    due = list(
        BuyerEmail.objects.filter(status=BuyerEmail.Status.PENDING, next_attempt_at__lte=now)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in due:
        with transaction.atomic():
            email = (
                BuyerEmail.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("lead", "order", "refund")
                .filter(pk=pk, status=BuyerEmail.Status.PENDING)
                .first()
            )
            if email is not None:
                sent += _send(email)
    return sent


def _send(email: BuyerEmail) -> int:
    if email.lead.erased_at is not None:
        email.status, email.reason = BuyerEmail.Status.DROPPED, "The buyer was erased."
        email.save(update_fields=["status", "reason"])
        return 0
    blocked = address_undeliverable(email.lead.email)
    if blocked is not None:
        email.status, email.reason = BuyerEmail.Status.DROPPED, f"The address is undeliverable ({blocked})."
        email.save(update_fields=["status", "reason"])
        return 0
    email.attempts += 1
    try:
        email_message(email).send()
    except (smtplib.SMTPException, OSError, UnicodeError, ValueError) as error:
        reason = permanent_refusal(error)
        if reason is not None or email.attempts >= MAX_ATTEMPTS:
            email.status = BuyerEmail.Status.FAILED
            email.reason = reason or f"the mail server could not be reached ({type(error).__name__})"
        else:
            email.reason = f"will retry: {type(error).__name__}"
            email.next_attempt_at = timezone.now() + dt.timedelta(minutes=min(2**email.attempts, 120))
            logger.warning("a buyer e-mail was not sent (attempt %s); it will be retried", email.attempts)
    else:
        email.status, email.sent_at, email.reason = BuyerEmail.Status.SENT, timezone.now(), ""
    email.save(update_fields=["status", "attempts", "next_attempt_at", "reason", "sent_at"])
    return int(email.status == BuyerEmail.Status.SENT)


def email_resend(*, email: BuyerEmail) -> BuyerEmail:
    """Queue a receipt or refund confirmation again (support: "I never got it"), as a new row sent at once."""
    again = BuyerEmail.objects.create(
        kind=email.kind,
        key=f"{email.key}:again:{timezone.now().timestamp()}",
        lead_id=email.lead_id,
        order_id=email.order_id,
        payment_id=email.payment_id,
        refund_id=email.refund_id,
        next_attempt_at=timezone.now(),
    )
    return again
