"""Addresses mail must not go to: the mail provider's bounces, complaints and rejections (django-anymail's tracking
webhook, at /webhooks/mail/<provider>/tracking/), kept as hashes. Every sender asks ``address_undeliverable`` first.

Anymail reports tracking events only as a signal; ``LeadsConfig.ready`` connects ``on_tracking`` to it, the one
signal receiver in Ladder.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from common.db import rows_insert
from leads.identity import email_fingerprint
from leads.models import UndeliverableAddress
from leads.normalization import normalize_email

BLOCKING = {"bounced": "bounced", "complained": "complained", "rejected": "rejected"}


def address_undeliverable(email: str) -> str | None:
    """Why mail must not go to ``email`` (bounced, complained, rejected), or None."""
    try:
        normalized = normalize_email(email)
    except ValidationError:
        return "not an address"
    row = UndeliverableAddress.objects.filter(email_sha256=email_fingerprint(normalized)).first()
    return row.reason if row is not None else None


def address_mark_undeliverable(*, email: str, reason: str, provider: str = "") -> bool:
    """Record that ``email`` must get no more mail; returns whether it was new."""
    try:
        normalized = normalize_email(email)
    except ValidationError:
        return False
    row = {
        "email_sha256": email_fingerprint(normalized),
        "reason": reason[:20],
        "provider": provider[:40],
        "reported_at": timezone.now().isoformat(),
    }
    return bool(rows_insert(UndeliverableAddress, [row], conflict_fields=["email_sha256"], returning="id"))


def on_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """Anymail's tracking signal: a bounce, complaint or rejection makes the address undeliverable."""
    reason = BLOCKING.get(str(getattr(event, "event_type", "")))
    recipient = getattr(event, "recipient", None)
    if reason and recipient:
        address_mark_undeliverable(email=str(recipient), reason=reason, provider=esp_name)
