"""The demo's ad spend: two campaigns on Meta and two on Google, imported through the same service the platform
imports use (``spend.services.spend_import``), from a reader that prices each day's leads of each campaign at the
campaign's cost per lead with some day-to-day noise — so the campaign report and the dashboard show spend, ROAS and
CAC on the first run. The demo's accounts are switched off: nothing is fetched from Meta or Google."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

from django.utils import timezone

from demo.ladder import AD_CAMPAIGNS, DAYS, DEMO_DOMAIN, SEED
from integrations.ad_spend import AccountInfo, CampaignDay
from leads.models import Touch
from spend.costs import costs_upload
from spend.models import AdAccount, OtherCost
from spend.models import CampaignDay as StoredDay
from spend.services import spend_import

NEWSLETTER_SWAP = "150.00"  # a month, paid to the partner whose list swaps with ours


class DemoSpendReader:
    def __init__(self, account: AdAccount) -> None:
        self.campaigns = [c for c in AD_CAMPAIGNS if c[0] == account.platform and c[1] == account.account_id]
        self.name = f"Demo {account.get_platform_display()} ads (sample spend)"

    def account(self) -> AccountInfo:
        return AccountInfo(name=self.name, currency="USD", time_zone=timezone.get_current_timezone_name())

    def click_campaigns(self, day: dt.date) -> Iterator[tuple[str, str]]:
        return iter(())  # the demo's links carry their campaigns in UTM

    def campaign_days(self, since: dt.date, until: dt.date) -> Iterator[CampaignDay]:
        leads = Counter(
            (source, campaign, timezone.localtime(at).date())
            for source, campaign, at in Touch.objects.filter(
                kind="first", lead__email__endswith="@" + DEMO_DOMAIN, occurred_at__date__gte=since
            ).values_list("utm_source", "utm_campaign", "occurred_at")
        )
        rng = random.Random(f"{SEED}-spend")
        day = since
        while day <= until:
            for _, _, campaign_id, name, source, utm, cost_per_lead in self.campaigns:
                count = leads[(source, utm, day)]
                # Days without a lead still cost something: the ads ran.
                spend = round(max(count, 0.3) * cost_per_lead * rng.uniform(0.7, 1.3))
                clicks = max(1, round(spend / rng.uniform(60, 110)))
                yield CampaignDay(
                    campaign_id=campaign_id,
                    campaign_name=name,
                    day=day,
                    currency="USD",
                    spend_minor=spend,
                    impressions=clicks * rng.randint(35, 70),
                    clicks=clicks,
                    # Platforms claim more than happened: view-through and modelled conversions.
                    platform_conversions=Decimal(round(count * rng.uniform(0.2, 0.5), 2)).quantize(Decimal("0.01")),
                    platform_conversion_value_minor=round(count * rng.uniform(300, 900)),
                )
            day += dt.timedelta(days=1)


def ensure_demo_spend() -> None:
    """Import the demo's spend once (idempotent: an import replaces its days) and the newsletter's monthly fee."""
    if StoredDay.objects.filter(account__name__startswith="Demo ").exists():
        return
    until = timezone.localdate()
    since = until - dt.timedelta(days=DAYS)
    for platform, account_id in sorted({(c[0], c[1]) for c in AD_CAMPAIGNS}):
        account, _ = AdAccount.objects.get_or_create(
            platform=platform, account_id=account_id, defaults={"is_active": False}
        )
        spend_import(account=account, since=since, until=until, reader=DemoSpendReader(account))
    if not OtherCost.objects.filter(source="newsletter", campaign="partner-swap").exists():
        months = sorted({(since + dt.timedelta(days=n)).replace(day=1) for n in range(DAYS + 1)})
        rows = "".join(
            f"{month},newsletter,partner-swap,{NEWSLETTER_SWAP},USD,List swap fee\n"
            for month in months
            if month >= since
        )
        costs_upload(f"date,source,campaign,amount,currency,description\n{rows}".encode())
