"""Standard audiences a marketer starts from with one click, then edits: each returns a rule (see audiences/rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True, kw_only=True, slots=True)
class Preset:
    key: str
    name: str
    description: str
    rule: dict[str, Any]


def presets(*, days: int = 7, offer_a: int | None = None, offer_b: int | None = None) -> list[Preset]:
    bought_a_not_b: dict[str, Any] = {
        "all": [
            {"purchase": {"offer": offer_a} if offer_a else {"role": "tripwire"}},
            {"not": {"purchase": {"offer": offer_b} if offer_b else {"role": "core"}}},
        ]
    }
    currency = settings.REPORTS_CURRENCY
    return [
        Preset(
            key="optin_no_tripwire",
            name=f"Opted in, no tripwire within {days} days",
            description="Retarget people who took the lead magnet but have not bought the tripwire.",
            rule={
                "all": [
                    {"event": {"type": "optin", "within_days": days}},
                    {"not": {"purchase": {"role": "tripwire"}}},
                ]
            },
        ),
        Preset(
            key="tripwire_not_core",
            name="Bought the tripwire, not the core offer",
            description="Show tripwire buyers the next step up the ladder.",
            rule={"all": [{"purchase": {"role": "tripwire"}}, {"not": {"purchase": {"role": "core"}}}]},
        ),
        Preset(
            key="bought_a_not_b",
            name="Bought A, not B",
            description="Cross-sell: replace the offers with the ones you mean.",
            rule=bought_a_not_b,
        ),
        Preset(
            key="abandoned_checkout",
            name=f"Abandoned checkout (last {days} days)",
            description="Started a checkout and bought nothing since.",
            rule={
                "all": [
                    {"event": {"type": "checkout_started", "within_days": days}},
                    {"not": {"purchase": {"within_days": days}}},
                ]
            },
        ),
        Preset(
            key="refunded",
            name="Refunded",
            description="People who had a refund: exclude them from upsell campaigns.",
            rule={"event": {"type": "refund"}},
        ),
        Preset(
            key="recent_customers",
            name=f"Customers of the last {days} days",
            description="An exclusion list: do not pay to show ads for what they just bought.",
            rule={"purchase": {"within_days": days, "not_refunded": True}},
        ),
        Preset(
            key="top_revenue",
            name="Top 20% by net revenue",
            description=f"Your best customers by revenue net of refunds ({currency}); a seed for lookalikes.",
            rule={"revenue": {"top_percent": 20, "currency": currency}},
        ),
        Preset(
            key="valuable_at_risk",
            name="Valuable customers at risk of lapsing",
            description=(
                f"Top 20% by net revenue ({currency}) whose chance of still buying has fallen to 30–70%: win them "
                "back before they go."
            ),
            rule={
                "all": [
                    {"revenue": {"top_percent": 20, "currency": currency}},
                    {"value": {"currency": currency, "p_alive_at_least": 0.3, "p_alive_below": 0.7}},
                ]
            },
        ),
        Preset(
            key="lapsed_buyers",
            name="Lapsed buyers",
            description=f"Buyers ({currency}) the model says have most likely stopped buying (p(alive) below 30%).",
            rule={"value": {"currency": currency, "p_alive_below": 0.3}},
        ),
        Preset(
            key="top_predicted_value",
            name="Top 10% by predicted lifetime value",
            description=(
                f"The buyers expected to be worth most over the next months ({currency}): a seed for value-based "
                "lookalikes, with a value-based Meta destination."
            ),
            rule={"value": {"currency": currency, "top_percent": 10}},
        ),
    ]
