"""The demo value ladder: an e-book funnel with about 2,000 leads and a year of their history, and a customers-only
workshop funnel its buyers come back to.

Everything is derived from a fixed random seed and from the time the demo funnel was first created, so running the
seed again changes nothing, and two fresh databases seeded on the same day hold the same data. The history is made
through the real code paths (captures, checkouts, Stripe's webhook handlers, refunds, disputes). The whole seed runs
in one transaction: an interrupted seed leaves nothing half-made.
"""

from __future__ import annotations

from demo.audiences import DEMO_AUDIENCES
from demo.history import BOUNCES, PROGRESS_TOTAL, demo_seed
from demo.ladder import (
    AD_CONSENT_WORDING,
    CAMPAIGNS,
    CHANNELS,
    COUNTRIES,
    DAYS,
    DEMO_DOMAIN,
    DEMO_NAMESPACE,
    DEMO_PASSWORD,
    EEA,
    EMAIL_CONSENT_WORDING,
    FIRST_NAMES,
    LAST_NAMES,
    LEAD_COUNT,
    PHONE_PREFIX,
    SEED,
    Ladder,
    demo_users,
)

__all__ = [
    "AD_CONSENT_WORDING",
    "BOUNCES",
    "CAMPAIGNS",
    "CHANNELS",
    "COUNTRIES",
    "DAYS",
    "DEMO_AUDIENCES",
    "DEMO_DOMAIN",
    "DEMO_NAMESPACE",
    "DEMO_PASSWORD",
    "EEA",
    "EMAIL_CONSENT_WORDING",
    "FIRST_NAMES",
    "LAST_NAMES",
    "LEAD_COUNT",
    "Ladder",
    "PHONE_PREFIX",
    "PROGRESS_TOTAL",
    "SEED",
    "demo_seed",
    "demo_users",
]
