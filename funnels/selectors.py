"""Reads for funnels."""

from __future__ import annotations

from funnels.models import Funnel, Route, Step
from funnels.validation import Graph, StepNode


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
        )
        for step in steps
    }
    routes: dict[int, dict[str, int]] = {}
    for from_id, outcome, to_id in Route.objects.filter(from_step__funnel=funnel).values_list(
        "from_step_id", "outcome", "to_step_id"
    ):
        routes.setdefault(from_id, {})[outcome] = to_id
    return Graph(currency=funnel.currency, entry_id=funnel.entry_step_id, steps=nodes, routes=routes)


def step_offer_prices(*, funnel: Funnel) -> dict[int, str]:
    """Display prices of each step's offer (and bump), keyed by step id, for the diagram."""
    prices: dict[int, str] = {}
    for step in Step.objects.filter(funnel=funnel).select_related("offer", "bump_offer"):
        parts = [step.offer.price_display] if step.offer else []
        if step.bump_offer:
            parts.append(f"+ bump {step.bump_offer.price_display}")
        prices[step.pk] = " ".join(parts)
    return prices
