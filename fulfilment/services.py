"""Giving buyers what they paid for, from the event log: the webhook's ``purchase`` events grant access to each
deliverable of each paid line, and ``refund`` and ``chargeback`` events take it back from a line refunded (or lost)
in full, when the settings say so.

``fulfilment_advance`` reads the log past its own gap-safe cursor (``leads.log``), as the pipeline does, so every
paid line is seen exactly once however often and in whatever order Stripe's webhooks came; grants are unique per
line and deliverable, so replaying changes nothing. A deliverable added to an offer later is given to the offer's
earlier buyers at once (``deliverable_grant_existing``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.db import rows_insert
from fulfilment.models import (
    Access,
    BuyerEmail,
    Deliverable,
    Download,
    FulfilmentCursor,
    FulfilmentGap,
    FulfilmentSettings,
)
from leads.log import log_read
from leads.models import Event
from offers.models import OrderLine, Refund

CURSOR = "events"
BATCH = 5000
_FIELDS = ("pk", "type", "order_id", "properties", "occurred_at", "idempotency_key")


def fulfilment_settings() -> FulfilmentSettings:
    return FulfilmentSettings.objects.get_or_create(pk=1)[0]


def _paid_lines(lines: Sequence[OrderLine]) -> list[OrderLine]:
    return [line for line in lines if line.order.paid_at is not None]


def _grant(lines: Sequence[OrderLine], now: dt.datetime) -> int:
    """Access to every active deliverable of each line's offer (once per line and deliverable)."""
    offers = {line.offer_id for line in lines}
    deliverables: dict[int, list[int]] = {}
    for pk, offer_id in Deliverable.objects.filter(offer_id__in=offers, is_active=True).values_list("pk", "offer_id"):
        deliverables.setdefault(offer_id, []).append(pk)
    rows = [
        {
            "lead_id": line.order.lead_id,
            "order_line_id": line.pk,
            "deliverable_id": deliverable,
            "granted_at": now.isoformat(),
        }
        for line in lines
        for deliverable in deliverables.get(line.offer_id, [])
    ]
    return len(rows_insert(Access, rows, conflict_fields=["order_line", "deliverable"], returning="id"))


def _taken_back(line: OrderLine) -> bool:
    return line.refunded_minor + line.chargeback_minor >= line.charged_minor > 0


def _revoke(order_ids: Sequence[int], now: dt.datetime) -> int:
    if not order_ids or not fulfilment_settings().revoke_on_refund:
        return 0
    lines = [line for line in OrderLine.objects.filter(order_id__in=order_ids) if _taken_back(line)]
    return Access.objects.filter(order_line__in=lines, revoked_at__isnull=True).update(
        revoked_at=now, revoked_because="refunded in full"
    )


def fulfilment_advance(*, limit: int = BATCH, now: dt.datetime | None = None) -> int:
    """Read up to ``limit`` new events and grant or revoke access for them, in one transaction; returns how many
    events were read."""
    now = now or timezone.now()
    with transaction.atomic():
        read = log_read(
            cursor_model=FulfilmentCursor, gap_model=FulfilmentGap, name=CURSOR, fields=_FIELDS, limit=limit, now=now
        )
        bought = [(e[3] or {}).get("line") for e in read.rows if e[1] == Event.Type.PURCHASE]
        lines = _paid_lines(list(OrderLine.objects.filter(pk__in=[pk for pk in bought if pk]).select_related("order")))
        _grant(lines, now)
        _revoke(sorted({e[2] for e in read.rows if e[1] in (Event.Type.REFUND, Event.Type.CHARGEBACK) and e[2]}), now)
        refunds = {e[5].split(":")[1] for e in read.rows if e[1] == Event.Type.REFUND and e[5].count(":") >= 2}
        _emails(lines, sorted(refunds), now)
    return len(read.rows)


def _emails(lines: Sequence[OrderLine], refund_ids: Sequence[str], now: dt.datetime) -> int:
    """A receipt per payment the lines were paid by (the order's first charge, each one-click addition) and a
    confirmation per refund: one row each, however often their events are read."""
    rows: dict[str, dict[str, Any]] = {}
    for line in lines:
        key = f"receipt:{line.payment_id}" if line.payment_id else f"receipt:order:{line.order_id}"
        rows.setdefault(
            key,
            {
                "kind": BuyerEmail.Kind.RECEIPT,
                "key": key,
                "lead_id": line.order.lead_id,
                "order_id": line.order_id,
                "payment_id": line.payment_id,
                "refund_id": None,
                "next_attempt_at": now.isoformat(),
            },
        )
    for refund in Refund.objects.filter(stripe_refund_id__in=refund_ids).select_related("payment__order"):
        key = f"refund:{refund.pk}"
        order = refund.payment.order
        rows[key] = {
            "kind": BuyerEmail.Kind.REFUND,
            "key": key,
            "lead_id": order.lead_id,
            "order_id": order.pk,
            "payment_id": refund.payment_id,
            "refund_id": refund.pk,
            "next_attempt_at": now.isoformat(),
        }
    return len(rows_insert(BuyerEmail, list(rows.values()), conflict_fields=["key"], returning="id"))


def fulfilment_catch_up(*, limit: int = BATCH, progress: Callable[[int], None] | None = None) -> int:
    total = 0
    while True:
        read = fulfilment_advance(limit=limit)
        total += read
        if progress is not None:
            progress(read)
        if read < limit:
            return total


@transaction.atomic
def deliverable_grant_existing(*, deliverable: Deliverable, now: dt.datetime | None = None) -> int:
    """Give a deliverable added to an offer to everyone who has paid for the offer and not had it taken back."""
    if not deliverable.is_active:
        return 0
    lines = OrderLine.objects.filter(offer_id=deliverable.offer_id, order__paid_at__isnull=False).select_related(
        "order"
    )
    kept = [line for line in lines if not _taken_back(line)]
    return _grant(kept, now or timezone.now())


def ip_fingerprint(address: str) -> str:
    """A keyed hash of a client address: the same address gives the same value, and the address cannot be read back."""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def download_record(*, access: Access, address: str, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    Download.objects.create(access=access, at=now, ip_hash=ip_fingerprint(address), version=access.deliverable.version)
    Access.objects.filter(pk=access.pk).update(downloads=F("downloads") + 1, last_download_at=now)


def library_of(*, lead_id: int) -> list[dict[str, Any]]:
    """What a buyer has, newest purchase first: each order line with its deliverables (revoked ones marked)."""
    accesses = (
        Access.objects.filter(lead_id=lead_id, deliverable__is_active=True)
        .select_related("deliverable", "order_line__order", "order_line__offer__product")
        .order_by("-order_line__order__paid_at", "order_line_id", "deliverable__position", "deliverable_id")
    )
    lines: dict[int, dict[str, Any]] = {}
    for access in accesses:
        line = access.order_line
        entry = lines.setdefault(
            line.pk,
            {"line": line, "order": line.order, "product": line.offer.product, "accesses": []},
        )
        entry["accesses"].append(access)
    return list(lines.values())
