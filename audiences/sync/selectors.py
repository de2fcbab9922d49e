"""Who is to be sent: the diff between an audience's eligible members and what the destination's ledger holds."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from analytics.models import CustomerValue
from audiences.models import Audience, Destination, SyncLedger
from audiences.models.connections import sending_through
from common.db import among
from leads.models import Consent, Lead
from leads.selectors import granted_now


def eligible_leads(audience: Audience) -> QuerySet[Lead]:
    """Members who may be uploaded: not erased, with ad-audience consent granted now."""
    return Lead.objects.filter(
        audience_memberships__audience=audience,
        erased_at__isnull=True,
        pk__in=granted_now(Consent.Purpose.AD_AUDIENCES),
    ).order_by("pk")


def leads_to_add(destination: Destination) -> QuerySet[Lead]:
    held = SyncLedger.objects.filter(destination=destination, lead=OuterRef("pk"), state=SyncLedger.State.ADDED)
    return eligible_leads(destination.audience).exclude(Exists(held))


def ledger_to_remove(destination: Destination) -> QuerySet[SyncLedger]:
    # NOT EXISTS, not NOT IN: PostgreSQL turns it into an anti join, where NOT IN over a million eligible members
    # (too many to hash in work_mem) re-reads the subquery for every ledger row.
    eligible = eligible_leads(destination.audience).filter(pk=OuterRef("lead_id"))
    return (
        SyncLedger.objects.filter(destination=destination, state=SyncLedger.State.ADDED)
        .exclude(Exists(eligible))
        .order_by("lead_id")
    )


def ledger_maybe_changed(destination: Destination) -> QuerySet[SyncLedger]:
    """Held members edited since the destination was told about them: their identifiers may have changed; for a
    value-based destination also those scored since (their value may have changed)."""
    eligible = eligible_leads(destination.audience).values("pk")
    changed = Q(lead__updated_at__gt=F("changed_at"))
    if destination.value_based:
        rescored = CustomerValue.objects.filter(
            lead_id=OuterRef("lead_id"), currency=destination.value_currency, scored_at__gt=OuterRef("changed_at")
        )
        changed |= Q(Exists(rescored))
    return (
        SyncLedger.objects.filter(changed, destination=destination, state=SyncLedger.State.ADDED, lead_id__in=eligible)
        .select_related("lead")
        .order_by("lead_id")
    )


def destinations_sending(now: dt.datetime | None = None) -> QuerySet[Destination]:
    """Switched-on destinations whose connection may send now: switched on, not paused, not asked to wait."""
    return Destination.objects.filter(sending_through(now)).select_related("audience", "connection")


def destinations_holding(*, lead_ids: list[int]) -> list[int]:
    """Active destinations that hold any of these leads and would now remove at least one of them."""
    if not lead_ids:
        return []
    due = []
    for destination in destinations_sending().filter(mode=Destination.Mode.MIRROR):
        if ledger_to_remove(destination).filter(lead_id__in=among(lead_ids)).exists():
            due.append(destination.pk)
    return due
