"""Daily campaign cost from the Google Ads API (``GoogleAdsService.search_stream``), through the official client over
gRPC with TLS, to the loopback stand-in: streamed batches, micros to minor units, restated days replaced, quota
errors waited out with Google's delay, refused credentials pausing the account, no token in what is kept."""

import datetime as dt
import json
import logging
from decimal import Decimal

import grpc
import pytest
from django.utils import timezone

from integrations.errors import IntegrationTransientError
from spend import services
from spend.models import AdAccount, CampaignDay, ClickCampaign, SpendImport
from tests.fakes.google_ads_grpc import GoogleAdsFake

pytestmark = pytest.mark.django_db

ACCESS = "ya29.spend-" + "a" * 30
DEVELOPER = "dev-token-" + "d" * 12
CREDENTIALS = json.dumps({"access_token": ACCESS, "developer_token": DEVELOPER})
CUSTOMER = "1234567890"
DAY = dt.date(2026, 11, 20)


@pytest.fixture
def ads(monkeypatch, settings):
    fake = GoogleAdsFake(access_token=ACCESS, developer_token=DEVELOPER)
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(fake.cert_path))  # trust the stand-in's certificate
    settings.GOOGLE_ADS_ENDPOINT = fake.endpoint
    yield fake
    fake.stop()


@pytest.fixture
def account(ads):
    return AdAccount.objects.create(platform="google", account_id="123-456-7890", credentials=CREDENTIALS)


def cost(campaign, day, micros, **metrics):
    return {
        "campaign_id": campaign,
        "name": f"Search {campaign}",
        "date": day.isoformat(),
        "cost_micros": micros,
        **metrics,
    }


def stored():
    return sorted((r.campaign_id, r.day, r.spend_minor, r.currency) for r in CampaignDay.objects.all())


def test_streamed_batches_are_stored_in_minor_units_in_the_customers_currency(ads, account):
    ads.currency[CUSTOMER] = "EUR"
    ads.stream_batch = 7
    ads.spend[CUSTOMER] = [
        cost(
            str(c),
            DAY + dt.timedelta(days=d),
            1_234_567 * (c + 1),
            impressions=900,
            clicks=12,
            conversions=1.5,
            conversions_value=42.25,
        )
        for c in range(5)
        for d in range(4)
    ]
    record = services.spend_import(account=account, since=DAY, until=DAY + dt.timedelta(days=3))

    assert (record.status, record.rows) == ("succeeded", 20)
    account.refresh_from_db()
    assert (account.currency, account.time_zone, account.name) == ("EUR", "Europe/Berlin", f"Ads {CUSTOMER}")
    first = CampaignDay.objects.get(campaign_id="0", day=DAY)
    assert (first.spend_minor, first.currency, first.impressions, first.clicks) == (123, "EUR", 900, 12)
    assert (first.platform_conversions, first.platform_conversion_value_minor) == (Decimal("1.50"), 4225)
    assert CampaignDay.objects.get(campaign_id="4", day=DAY).spend_minor == 617  # 6.172835 € rounds half up


def test_a_restated_day_replaces_its_row(ads, account):
    ads.spend[CUSTOMER] = [cost("7", DAY, 5_000_000), cost("8", DAY, 1_000_000)]
    services.spend_import(account=account, since=DAY, until=DAY)
    ads.spend[CUSTOMER] = [cost("7", DAY, 6_500_000)]
    services.spend_import(account=account, since=DAY, until=DAY)
    assert stored() == [("7", DAY, 650, "USD")]


def test_a_quota_error_waits_googles_delay(ads, account):
    ads.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_error", "RESOURCE_EXHAUSTED", retry_seconds=30)
    with pytest.raises(IntegrationTransientError) as raised:
        services.spend_import(account=account, since=DAY, until=DAY)
    assert raised.value.retry_after == 30
    account.refresh_from_db()
    assert account.wait_until is not None
    assert SpendImport.objects.get().status == "failed"


def test_refused_credentials_pause_the_account_and_leak_nothing(ads, account, caplog):
    AdAccount.objects.filter(pk=account.pk).update(
        credentials=json.dumps({"access_token": "ya29.revoked-" + "r" * 30, "developer_token": DEVELOPER})
    )
    account.refresh_from_db()
    with caplog.at_level(logging.DEBUG):
        record = services.spend_import(account=account, since=DAY, until=DAY)
    account.refresh_from_db()
    assert record.status == "failed"
    assert "OAUTH_TOKEN_INVALID" in account.paused_reason
    assert "ya29" not in caplog.text + record.error + account.paused_reason
    assert DEVELOPER not in caplog.text + record.error


def test_click_view_maps_each_days_clicks_to_their_campaign_for_the_last_90_days(ads, account):
    today = timezone.localdate()
    ads.clicks[CUSTOMER] = [
        ("gclid-a", "990001", (today - dt.timedelta(days=1)).isoformat()),
        ("gclid-b", "990002", (today - dt.timedelta(days=2)).isoformat()),
        ("gclid-old", "990003", (today - dt.timedelta(days=120)).isoformat()),  # beyond what Google answers
    ]
    services.spend_import(account=account, since=today - dt.timedelta(days=150), until=today)
    assert dict(ClickCampaign.objects.values_list("gclid", "campaign_id")) == {"gclid-a": "990001", "gclid-b": "990002"}
    asked = [call for call in ads.calls if call == "search_stream"]
    assert len(asked) == 1 + 5 + 90  # the customer, five 31-day windows of cost, one click_view a day for 90 days
