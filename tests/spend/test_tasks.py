"""The nightly re-read: which accounts it takes, the range it reads, and the admin's "import now" (the retry after
the platform's wait is tested on a real worker, tests/spend/test_import_worker.py)."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from spend import services, tasks
from spend.models import AdAccount, CampaignDay
from tests.factories import UserFactory
from tests.spend.test_meta_import import ACCOUNT, TOKEN, graph, row  # noqa: F401 (the graph fixture)

pytestmark = pytest.mark.django_db


def test_only_active_unpaused_accounts_not_asked_to_wait_are_due():
    now = timezone.now()
    due = AdAccount.objects.create(platform="meta", account_id="act_1")
    AdAccount.objects.create(platform="meta", account_id="act_2", is_active=False)
    AdAccount.objects.create(platform="meta", account_id="act_3", paused_reason="Meta error 190")
    AdAccount.objects.create(platform="meta", account_id="act_4", wait_until=now + dt.timedelta(minutes=5))
    waited = AdAccount.objects.create(platform="google", account_id="1", wait_until=now - dt.timedelta(minutes=5))
    assert {a.pk for a in services.accounts_due(now=now)} == {due.pk, waited.pk}


def test_the_recent_range_is_28_days_to_today_in_the_accounts_time_zone():
    account = AdAccount(time_zone="Pacific/Auckland")
    since, until = services.recent_range(account, today=dt.date(2026, 12, 2))
    assert (since, until) == (dt.date(2026, 11, 5), dt.date(2026, 12, 2))
    assert (until - since).days + 1 == services.RECENT_DAYS


def test_the_nightly_task_reads_each_due_account_again(graph):  # noqa: F811
    account = AdAccount.objects.create(platform="meta", account_id=ACCOUNT, credentials=TOKEN)
    today = timezone.localdate()
    graph.spend[ACCOUNT] = [row("1", today - dt.timedelta(days=n), "2.00") for n in range(40)]
    graph.report_polls = 0
    assert tasks.spend_import_recent() == 1  # queued, run in-process here
    days = sorted(CampaignDay.objects.filter(account=account).values_list("day", flat=True))
    account.refresh_from_db()
    assert len(days) == services.RECENT_DAYS  # the last 28 days in the account's time zone, not all 40
    assert days[-1] >= today - dt.timedelta(days=1)


def test_import_now_queues_active_accounts_and_says_which_were_skipped(graph, django_capture_on_commit_callbacks):  # noqa: F811
    graph.report_polls = 0
    active = AdAccount.objects.create(platform="meta", account_id=ACCOUNT, credentials=TOKEN)
    AdAccount.objects.create(platform="meta", account_id="act_77", paused_reason="Meta error 190")
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(
            "/admin/spend/adaccount/",
            {"action": "import_recent", "_selected_action": [str(a.pk) for a in AdAccount.objects.all()]},
            follow=True,
        )
    text = response.content.decode()
    assert "1 import(s) queued" in text
    assert "1 account(s) skipped: off or paused" in text
    assert active.imports.get().status == "succeeded"
