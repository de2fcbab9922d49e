"""Reads for leads: consent state, timelines, filter choices."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

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
