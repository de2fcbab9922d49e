"""Each demo lead's walk, decided up front from the seed."""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
import uuid
from collections.abc import Callable

from demo.ladder import (
    CAMPAIGNS,
    CHANNELS,
    COUNTRIES,
    DAYS,
    DEMO_NAMESPACE,
    EEA,
    _Plan,
)


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _ascii(name: str) -> str:
    """A name as an address's local part: lower case, accents dropped (García → garcia, Müller → muller)."""
    return unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()


def _visitor(index: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"visitor-{index}")


def _plan(rng: random.Random, index: int, anchor: dt.datetime, upsell_variant: Callable[[int], str]) -> _Plan:
    created_at = anchor - dt.timedelta(days=rng.uniform(0, DAYS))
    channel_source = rng.choices(CHANNELS, weights=[c[2] for c in CHANNELS])[0]
    source, medium = channel_source[0], channel_source[1]
    campaign = rng.choice(CAMPAIGNS[source]) if source in CAMPAIGNS else ""
    country = _weighted(rng, COUNTRIES)
    plan = _Plan(
        index=index,
        created_at=created_at,
        channel=(source, medium, campaign),
        country=country,
        ad_consent=rng.random() < (0.7 if country in EEA else 0.9),
        email_consent=rng.random() < 0.92,
        withdrew_ads=rng.random() < 0.02,
    )
    moment = created_at - dt.timedelta(minutes=rng.uniform(1, 20))

    def step(kind: str, step_slug: str, minutes: float) -> None:
        nonlocal moment
        moment = moment + dt.timedelta(minutes=minutes)
        plan.events.append((kind, step_slug, moment, {}))

    step("page_view", "optin", 0)
    step("optin", "optin", rng.uniform(0.5, 3))
    if rng.random() >= 0.36:
        return plan
    step("page_view", "order", 0.2)
    step("checkout_started", "order", rng.uniform(0.5, 4))
    if rng.random() >= 0.62:
        return plan  # abandoned checkout: the order stays pending
    plan.bought.append("tripwire")
    if rng.random() < 0.42:
        plan.bought.append("bump")
    plan.coupon = rng.random() < 0.08
    step("page_view", "upsell", 0.3)
    # The long sales letter (variant B) sells the course more often than the short one.
    if rng.random() < (0.33 if upsell_variant(index) == "B" else 0.22):
        plan.bought.append("core")
        step("upsell_accepted", "upsell", rng.uniform(0.5, 3))
    else:
        step("upsell_declined", "upsell", rng.uniform(0.5, 3))
        step("page_view", "downsell", 0.2)
        if rng.random() < 0.33:
            plan.bought.append("downsell")
            step("upsell_accepted", "downsell", rng.uniform(0.5, 2))
        else:
            step("upsell_declined", "downsell", rng.uniform(0.5, 2))
    step("page_view", "cross-sell", 0.2)
    if rng.random() < 0.14:
        plan.bought.append("cross_sell")
        step("upsell_accepted", "cross-sell", rng.uniform(0.5, 2))
    else:
        step("upsell_declined", "cross-sell", rng.uniform(0.5, 2))
    step("page_view", "thank-you", 0.1)
    # Buyers invited to the workshop come back as customers do: each at a rate of their own (a few weeks to a year
    # between bookings) until, after some booking, they are gone for good.
    rate = rng.gammavariate(0.8, 1 / 40)  # visits a day
    plan.takes_recordings = rng.betavariate(0.7, 0.7)  # some nearly always add the recording, some never
    gone = rng.betavariate(1.2, 3.0)  # the chance that a visit is the last
    later = moment
    while rng.random() >= gone:
        later = later + dt.timedelta(days=rng.expovariate(rate) if rate > 0 else DAYS)
        if later >= anchor:
            break
        plan.returns.append((later, True))
    roll = rng.random()
    plan.refund = (
        "full"
        if roll < 0.04
        else "partial"
        if roll < 0.055
        else "bump"
        if roll < 0.07 and "bump" in plan.bought
        else "dispute_lost"
        if roll < 0.075
        else "dispute_won"
        if roll < 0.08
        else ""
    )
    return plan
