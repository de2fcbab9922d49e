"""Reads for leads: consent state, timelines, filter choices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from leads.models import Consent, Event, Lead


def consent_status_subquery(purpose: str) -> Subquery:
    """The latest consent status for ``purpose`` of the lead in the outer query (None: never asked)."""
    latest = Consent.objects.filter(lead=OuterRef("pk"), purpose=purpose).order_by("-occurred_at", "-id")
    return Subquery(latest.values("status")[:1])


def leads_with_consent(queryset: QuerySet[Lead] | None = None) -> QuerySet[Lead]:
    queryset = Lead.objects.all() if queryset is None else queryset
    return queryset.annotate(
        ad_consent=consent_status_subquery(Consent.Purpose.AD_AUDIENCES),
        email_consent=consent_status_subquery(Consent.Purpose.MARKETING_EMAIL),
    )


def lead_timeline(*, lead: Lead, limit: int = 200) -> list[Event]:
    return list(Event.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:limit])


def lead_countries() -> list[str]:
    return list(Lead.objects.exclude(country="").values_list("country", flat=True).distinct().order_by("country"))


def leads_for_visitors(*, visitor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The lead each visitor became, if any (one query)."""
    rows = (
        Event.objects.filter(Q(visitor_id__in=list(visitor_ids)) & Q(lead__isnull=False))
        .order_by()  # the model's default ordering would widen DISTINCT to every event
        .values_list("visitor_id", "lead_id")
        .distinct()
    )
    return {visitor_id: lead_id for visitor_id, lead_id in rows if visitor_id is not None and lead_id is not None}


def lead_for_visitor(*, visitor_id: uuid.UUID) -> Lead | None:
    event = Event.objects.filter(visitor_id=visitor_id, lead__isnull=False).select_related("lead").first()
    return event.lead if event else None


def granted_now(purpose: str) -> Any:
    """Leads whose latest answer for ``purpose`` is a grant (a later withdrawal wins; at the same moment, the
    answer recorded last). Written as "a grant with no later answer", which the database answers with one anti
    join instead of a lookup per lead."""
    later = Consent.objects.filter(lead=OuterRef("lead"), purpose=purpose).filter(
        Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), pk__gt=OuterRef("pk"))
    )
    return (
        Consent.objects.filter(purpose=purpose, status=Consent.Status.GRANTED).exclude(Exists(later)).values("lead_id")
    )
