"""What the ad platforms say each campaign cost, day by day: the values both platform readers return.

``CampaignDay`` is one campaign on one day in the ad account's currency and time zone, money in minor units. The
platform's own conversions are kept beside it (Meta: website purchases by the pixel; Google: its ``conversions``
metric) so a report can show where a platform counts more than Ladder saw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInfo:
    name: str
    currency: str
    time_zone: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignDay:
    campaign_id: str
    campaign_name: str
    day: dt.date
    currency: str
    spend_minor: int
    impressions: int
    clicks: int
    platform_conversions: Decimal
    platform_conversion_value_minor: int
