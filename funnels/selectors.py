"""Reads for funnels."""

from __future__ import annotations

import datetime as dt

from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from funnels.models import Funnel, Route, Step
from funnels.validation import Graph, StepNode
from leads.models import Event
from offers.models import Offer


def funnel_graph(*, funnel: Funnel) -> Graph:
    """A snapshot of the funnel's steps and routes for validation and the diagram: two queries."""
    steps = Step.objects.filter(funnel=funnel).select_related("offer", "bump_offer").order_by("position", "id")
    nodes = {
        step.pk: StepNode(
            id=step.pk,
            name=step.name,
            kind=step.kind,
            offer_role=step.offer.role if step.offer else None,
            offer_currency=step.offer.currency if step.offer else None,
            offer_name=step.offer.name if step.offer else None,
            bump_role=step.bump_offer.role if step.bump_offer else None,
            bump_currency=step.bump_offer.currency if step.bump_offer else None,
            bump_name=step.bump_offer.name if step.bump_offer else None,
            asks_email_consent=bool(step.consent_email_text.strip()),
            asks_ads_consent=bool(step.consent_ads_text.strip()),
            price_label=" ".join(
                [
                    *([step.offer.price_display] if step.offer else []),
                    *([f"+ bump {step.bump_offer.price_display}"] if step.bump_offer else []),
                ]
            ),
        )
        for step in steps
    }
    routes: dict[int, dict[str, int]] = {}
    for from_id, outcome, to_id in Route.objects.filter(from_step__funnel=funnel).values_list(
        "from_step_id", "outcome", "to_step_id"
    ):
        routes.setdefault(from_id, {})[outcome] = to_id
    return Graph(currency=funnel.currency, entry_id=funnel.entry_step_id, steps=nodes, routes=routes)


def live_step(*, funnel_slug: str, step_slug: str) -> Step | None:
    """A step of a live funnel with what its page shows (offer, bump, variants), or None."""
    return (
        Step.objects.filter(funnel__slug=funnel_slug, funnel__status=Funnel.Status.LIVE, slug=step_slug)
        .select_related("funnel", "offer", "bump_offer")
        .prefetch_related("variants")
        .first()
    )


def live_funnel(*, funnel_slug: str) -> Funnel | None:
    return Funnel.objects.filter(slug=funnel_slug, status=Funnel.Status.LIVE).select_related("entry_step").first()


def next_step(*, step: Step, outcome: str) -> Step | None:
    route = Route.objects.filter(from_step=step, outcome=outcome).select_related("to_step").first()
    return route.to_step if route else None


# What counts as converting on each kind of step (docs/metrics.md): the reports' step conversions.
CONVERSION_EVENTS: dict[str, tuple[str, ...]] = {
    "optin": ("optin",),
    "sales": ("custom",),  # the "step_accept" click
    "order_form": ("purchase",),
    "upsell": ("upsell_accepted",),
    "downsell": ("upsell_accepted",),
    "cross_sell": ("upsell_accepted",),
    "thank_you": (),
}


def funnel_lead_magnet(*, funnel: Funnel) -> Offer | None:
    """The lead-magnet offer of the funnel's opt-in step, if it has one."""
    step = (
        Step.objects.filter(funnel=funnel, kind=Step.Kind.OPTIN, offer__role=Offer.Role.LEAD_MAGNET)
        .select_related("offer")
        .order_by("position", "id")
        .first()
    )
    return step.offer if step else None


def lead_magnets_owed(*, since: dt.datetime, limit: int = 500) -> list[tuple[int, int]]:
    """(lead id, step id) of opt-ins on lead-magnet steps since ``since`` whose e-mail was never marked sent.

    The opt-in event is the durable record that an e-mail is owed; the ``lead_magnet_sent`` event, keyed
    ``lead-magnet-sent:<lead>:<step>``, records that it went. One query, newest last.
    """
    magnet_steps = Step.objects.filter(kind=Step.Kind.OPTIN, offer__role=Offer.Role.LEAD_MAGNET).values("pk")
    sent_key = Concat(
        Value("lead-magnet-sent:"),
        Cast(OuterRef("lead_id"), CharField()),
        Value(":"),
        Cast(OuterRef("step_id"), CharField()),
    )
    owed = (
        Event.objects.filter(
            type=Event.Type.OPTIN, occurred_at__gte=since, lead__isnull=False, step_id__in=magnet_steps
        )
        .exclude(Exists(Event.objects.filter(idempotency_key=sent_key)))
        .order_by("occurred_at")
        .values_list("lead_id", "step_id")
        .distinct()[:limit]
    )
    return [(lead_id, step_id) for lead_id, step_id in owed if lead_id is not None and step_id is not None]
