"""Keeping the rollups: read the event log past a cursor, and fold what it says into the derived tables.

Every change is a *delta*: for each visitor series, order or lead the batch touches, its contribution to the rollups
is computed before and after the change, and only the difference is added (``INSERT … ON CONFLICT DO UPDATE SET n =
n + excluded.n``). So the incremental rollups equal a rebuild from scratch after any sequence of events, in any batch
sizes (``rollups_rebuild`` and the tests check exactly that). One maintainer runs at a time: the batch holds the
cursor's row lock, and the cursor, the facts and the rollups commit together.

``deltas`` adds to summed tables, ``visitors`` keeps presence and exposures, ``money`` the order, line and lead facts
and what is summed from them, ``log`` reads the event log.
"""

from __future__ import annotations

from analytics.services.deltas import (
    BATCH,
    CURSOR,
    MONEY_EVENTS,
    NO_DAY,
    PAID_STATUSES,
    local_day,
    month_of,
)
from analytics.services.log import DERIVED, Advance, rollups_advance, rollups_catch_up, rollups_rebuild
from analytics.services.money import NO_TOUCH, BuyerState, buyer_states, channel_of

__all__ = [
    "Advance",
    "BATCH",
    "BuyerState",
    "CURSOR",
    "DERIVED",
    "MONEY_EVENTS",
    "NO_DAY",
    "NO_TOUCH",
    "PAID_STATUSES",
    "buyer_states",
    "channel_of",
    "local_day",
    "month_of",
    "rollups_advance",
    "rollups_catch_up",
    "rollups_rebuild",
]
