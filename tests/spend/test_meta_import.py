"""Daily campaign spend from Meta's Insights API, through the official SDK, against the loopback Graph API: an
async report polled to completion and read page by page, restated days replacing their rows, throttling waited out,
an expired token pausing the account with Meta's reason, and nothing secret in what is logged or stored."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.test import Client

from integrations.errors import IntegrationTransientError
from integrations.meta.insights import MetaSpendReader
from spend import services
from spend.models import AdAccount, CampaignDay, SpendImport
from tests.factories import UserFactory
from tests.fakes.meta_graph import MetaGraphFake

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-spend-" + "s" * 30
ACCOUNT = "act_5550001"
DAY = dt.date(2026, 11, 20)


@pytest.fixture
def graph(settings):
    fake = MetaGraphFake(access_token=TOKEN)
    settings.META_GRAPH_URL = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def account(graph):
    return AdAccount.objects.create(platform="meta", account_id=ACCOUNT, credentials=TOKEN)


def row(campaign, day, spend, *, purchases="0", value="0", name=None, currency="USD"):
    return {
        "campaign_id": campaign,
        "campaign_name": name or f"Campaign {campaign}",
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
        "spend": spend,
        "impressions": "1000",
        "clicks": "25",
        "actions": [
            {"action_type": "omni_purchase", "value": "99"},  # Meta repeats purchases under other types
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": purchases},
        ],
        "action_values": [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": value}],
        "account_currency": currency,
    }


def stored():
    return sorted(
        (r.campaign_id, r.day, r.spend_minor, r.platform_conversions, r.platform_conversion_value_minor)
        for r in CampaignDay.objects.all()
    )


def import_days(account, since=DAY, until=DAY):
    account.refresh_from_db()
    reader = MetaSpendReader(
        access_token=TOKEN, ad_account_id=ACCOUNT, poll_seconds=0.01, graph_url=django_settings.META_GRAPH_URL
    )
    return services.spend_import(account=account, since=since, until=until, reader=reader)


def test_an_async_report_is_polled_to_completion_paged_and_stored_in_minor_units(graph, account):
    days = [DAY + dt.timedelta(days=n) for n in range(30)]
    graph.spend[ACCOUNT] = [
        row(str(120000 + c), day, f"{c}.{n:02d}", purchases="2", value="54.5")
        for c in range(40)
        for day in days
        for n in [day.day]
    ]  # 1,200 rows: three pages of 500
    graph.report_polls = 3
    record = import_days(account, DAY, days[-1])

    assert (record.status, record.rows) == ("succeeded", 1200)
    assert CampaignDay.objects.count() == 1200
    first = CampaignDay.objects.get(campaign_id="120007", day=DAY)
    assert (first.spend_minor, first.currency, first.impressions, first.clicks) == (720, "USD", 1000, 25)
    assert (first.platform_conversions, first.platform_conversion_value_minor) == (Decimal("2.00"), 5450)
    pages = [r for r in graph.requests if r["path"].endswith("/insights") and r["method"] == "GET"]
    polls = [r for r in graph.requests if r["method"] == "GET" and r["path"].strip("/").split("/")[-1] in graph.runs]
    assert (len(pages), len(polls)) == (3, 4)  # three pages; "running" three times, then completed
    account.refresh_from_db()
    assert (account.currency, account.time_zone, account.name) == ("USD", "America/New_York", f"Ads of {ACCOUNT}")
    assert account.last_imported_at is not None


def test_a_currency_without_decimals_is_stored_in_whole_units(graph, account):
    graph.account_currency[ACCOUNT] = "JPY"
    graph.spend[ACCOUNT] = [row("1", DAY, "1234", currency="JPY", value="5000", purchases="1")]
    import_days(account)
    assert stored() == [("1", DAY, 1234, Decimal("1.00"), 5000)]


def test_a_restated_day_replaces_its_rows_and_never_adds_to_them(graph, account):
    graph.spend[ACCOUNT] = [row("1", DAY, "10.00"), row("2", DAY, "5.00"), row("1", DAY - dt.timedelta(days=1), "3")]
    import_days(account, DAY - dt.timedelta(days=1), DAY)
    graph.spend[ACCOUNT] = [row("1", DAY, "12.50", purchases="1", value="20")]  # Meta restated the day
    record = import_days(account)  # only DAY

    assert record.rows == 1
    assert stored() == [
        ("1", DAY - dt.timedelta(days=1), 300, Decimal(0), 0),  # outside the re-read: kept
        ("1", DAY, 1250, Decimal("1.00"), 2000),
    ]
    import_days(account)  # the same again changes nothing
    assert CampaignDay.objects.count() == 2


def test_throttling_records_metas_wait_and_raises_for_a_retry(graph, account):
    graph.fail_next(4, subcode=1504022, transient=True, usage={"5550001": [{"estimated_time_to_regain_access": 7}]})
    with pytest.raises(IntegrationTransientError) as raised:
        import_days(account)
    assert raised.value.retry_after == 7 * 60
    account.refresh_from_db()
    assert account.wait_until is not None
    assert account not in services.accounts_due()
    record = SpendImport.objects.get()
    assert (record.status, record.error.startswith("Meta error 4/1504022")) == ("failed", True)
    assert CampaignDay.objects.count() == 0


def test_a_failed_report_run_is_transient(graph, account):
    graph.report_fails = 1
    with pytest.raises(IntegrationTransientError, match="could not build the spend report"):
        import_days(account)


def test_an_expired_token_pauses_the_account_with_metas_reason(graph, account, caplog):
    AdAccount.objects.filter(pk=account.pk).update(credentials="EAAB-expired-" + "x" * 30)
    account.refresh_from_db()
    with caplog.at_level(logging.DEBUG):
        record = services.spend_import(account=account, since=DAY, until=DAY)

    assert record.status == "failed"
    account.refresh_from_db()
    assert "Session has expired" in account.paused_reason
    assert "Renew the access token" in account.paused_reason
    assert account not in services.accounts_due()
    assert "EAAB-expired" not in caplog.text + record.error + account.paused_reason


def test_meta_unreachable_names_the_failure_and_never_the_token_or_url(graph, account, caplog):
    graph.stop()
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrationTransientError) as raised:
        import_days(account)
    message = str(raised.value) + SpendImport.objects.get().error
    assert "Meta" in message
    for secret in (TOKEN, "access_token", graph.url, "127.0.0.1"):
        assert secret not in message
        assert secret not in caplog.text


def test_the_command_backfills_with_progress_and_refuses_bad_input(graph, account, capsys):
    graph.spend[ACCOUNT] = [row("9", DAY + dt.timedelta(days=n), "1.00") for n in range(45)]
    call_command("spend_import", "--platform", "meta", "--since", "2026-11-20", "--until", "2027-01-03")
    out = capsys.readouterr().out
    assert "45 campaign days from 2026-11-20 to 2027-01-03" in out
    assert "100%" in out
    assert CampaignDay.objects.count() == 45
    assert SpendImport.objects.get().rows == 45  # two windows (31 + 14 days), one import

    for args, message in [
        (["--since", "20-11-2026"], "--since must be a day as YYYY-MM-DD"),
        (["--since", "2026-11-20", "--until", "2026-11-01"], "on or before --until"),
        (["--since", "2020-01-01", "--until", "2026-01-01"], "at most"),
        (["--since", "2026-11-20", "--account", "act_1"], "No active ad account matches"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("spend_import", "--platform", "meta", *args)


def signed_in(role):
    client = Client()
    client.force_login(UserFactory.create(role=role))
    return client


def test_the_admin_checks_the_token_with_meta_when_an_account_is_added(graph):
    marketer = signed_in("marketer")
    url = "/admin/spend/adaccount/add/"
    asked = len(graph.requests)
    malformed = marketer.post(
        url, {"platform": "meta", "account_id": "my ads", "credentials": TOKEN, "is_active": "on"}
    )
    assert malformed.status_code == 200
    assert "Enter the Meta ad account&#x27;s number, e.g. act_1234567890." in malformed.content.decode()
    assert len(graph.requests) == asked  # Meta is not asked about an id that cannot be one
    refused = marketer.post(
        url, {"platform": "meta", "account_id": ACCOUNT, "credentials": "EAAB-wrong-" + "w" * 30, "is_active": "on"}
    )
    assert refused.status_code == 200
    assert "Session has expired" in refused.content.decode()
    assert not AdAccount.objects.exists()

    added = marketer.post(url, {"platform": "meta", "account_id": ACCOUNT, "credentials": TOKEN, "is_active": "on"})
    assert added.status_code == 302
    account = AdAccount.objects.get()
    assert (account.currency, account.time_zone, account.name) == ("USD", "America/New_York", f"Ads of {ACCOUNT}")
    page = marketer.get(f"/admin/spend/adaccount/{account.pk}/change/").content.decode()
    assert TOKEN not in page  # a stored token is never shown again
    assert signed_in("sales").get("/admin/spend/adaccount/").status_code == 403
