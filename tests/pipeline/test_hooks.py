"""Lead webhooks: every stage change and every lead turning hot reaches a receiver that checks the signature, once,
with the same delivery id on every retry; a refusal is kept with its status; an erased lead's event is dropped;
the signing secret never shows."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.utils import timezone

from leads import scoring
from leads.models import Lead, Stage
from leads.pipeline import leads_stage_move
from leads.services import lead_forget
from pipeline import hooks
from pipeline.models import HookDelivery, LeadWebhook, PipelineSettings
from tests.factories import LeadFactory, UserFactory
from tests.fakes.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

SECRET = "hook-secret-" + "x" * 20


@pytest.fixture
def receiver():
    running = Receiver(SECRET)
    yield running
    running.server.shutdown()


@pytest.fixture
def webhook(receiver):
    hooks.hooks_collect()  # the cursors start at the end of the logs: only what happens next is sent
    return LeadWebhook.objects.create(name="Slack", url=receiver.url, secret=SECRET)


def points(lead: Lead, n: int, key: str) -> None:
    scoring.score_events_record(
        entries=[scoring.ScoreEntry(lead_id=lead.pk, points=n, reason="r", occurred_at=timezone.now(), key=key)]
    )


def test_a_stage_change_reaches_the_receiver_signed_with_who_moved_it(webhook, receiver):
    seller = UserFactory.create(role="sales", username="sam")
    lead = LeadFactory.create(first_name="Ann", email="ann@example.com")
    engaged = Stage.objects.get(name="Engaged")
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=engaged, by_id=seller.pk, reason="called")
    assert hooks.hooks_collect() == 1
    assert hooks.hooks_deliver() == 1
    [delivery] = receiver.deliveries
    assert delivery["signed"]
    assert delivery["event"] == "lead.stage_changed"
    body = delivery["body"]
    assert body["type"] == "lead.stage_changed"
    assert body["stage_change"] == {"from": None, "to": "Engaged", "automatic": False, "by": "sam", "reason": "called"}
    assert body["lead"]["id"] == str(lead.public_id)
    assert body["lead"]["url"].endswith(f"/admin/leads/lead/{lead.pk}/change/")
    assert "email" not in body["lead"], "contact details only when the webhook asks for them"
    assert HookDelivery.objects.get().status == "sent"
    assert hooks.hooks_collect() == 0  # read once
    assert hooks.hooks_deliver() == 0


def test_contact_details_only_when_asked(webhook, receiver):
    LeadWebhook.objects.update(include_contact=True, on_hot=False)
    lead = LeadFactory.create(first_name="Ann", email="ann@example.com")
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name="Won"), by_id=None)
    hooks.hooks_run()
    assert receiver.deliveries[0]["body"]["lead"]["email"] == "ann@example.com"


def test_a_lead_turns_hot_once_until_it_cools(webhook, receiver):
    PipelineSettings.objects.update_or_create(pk=1, defaults={"hot_score": 30})
    LeadWebhook.objects.update(on_stage_change=False)
    lead = LeadFactory.create()
    points(lead, 20, "a")
    assert hooks.hooks_collect() == 0  # 20 < 30
    points(lead, 15, "b")
    assert hooks.hooks_collect() == 1  # 35: hot now
    points(lead, 5, "c")
    scoring.scores_resum()  # a rebuild brings the same score back: no second "hot"
    assert hooks.hooks_collect() == 0
    points(lead, -20, "d")
    assert hooks.hooks_collect() == 0  # cooled to 20: forgotten
    points(lead, 25, "e")
    assert hooks.hooks_collect() == 1  # hot again
    hooks.hooks_deliver()
    assert [d["body"]["hot"] for d in receiver.deliveries] == [
        {"score": 35, "hot_score": 30},
        {"score": 45, "hot_score": 30},
    ]
    assert all(d["signed"] and d["event"] == "lead.hot" for d in receiver.deliveries)


def test_a_busy_receiver_gets_the_same_delivery_id_again_and_a_refusal_is_kept(webhook, receiver):
    lead = LeadFactory.create()
    receiver.answers = [(503, {}), (200, {})]
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name="Engaged"), by_id=None)
    hooks.hooks_collect()
    assert hooks.hooks_deliver() == 0
    delivery = HookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "503" in delivery.reason
    assert hooks.hooks_deliver() == 0  # not due yet: it backs off
    assert hooks.hooks_deliver(now=delivery.next_attempt_at) == 1
    assert receiver.deliveries[0]["id"] == receiver.deliveries[1]["id"] == str(delivery.delivery_id)

    receiver.answers = [(410, {})]
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name="Won"), by_id=None)
    hooks.hooks_run()
    refused = HookDelivery.objects.filter(status="failed").get()
    assert "410" in refused.reason


def test_an_erased_leads_event_is_dropped_not_sent(webhook, receiver):
    lead = LeadFactory.create()
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name="Engaged"), by_id=None)
    hooks.hooks_collect()
    lead_forget(lead=lead)
    hooks.hooks_deliver()
    assert receiver.deliveries == []
    assert HookDelivery.objects.get().status == "dropped"


def test_an_unreachable_receiver_is_retried_and_nothing_secret_is_logged(webhook, caplog):
    LeadWebhook.objects.update(url="http://127.0.0.1:9/hook?token=abc123")
    lead = LeadFactory.create()
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name="Engaged"), by_id=None)
    with caplog.at_level(logging.DEBUG):
        hooks.hooks_run()
    delivery = HookDelivery.objects.get()
    assert delivery.status == "pending"
    assert "could not be reached" in delivery.reason
    for text in (delivery.reason, caplog.text):
        assert "abc123" not in text
        assert SECRET not in text


def test_the_admin_keeps_the_secret_write_only_and_sales_cannot_see_webhooks(receiver):
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    form = {"name": "CRM", "url": receiver.url, "on_stage_change": "on", "on_hot": "on", "is_active": "on"}
    short = marketer.post("/admin/pipeline/leadwebhook/add/", {**form, "signing_secret": "short"})
    assert short.status_code == 200
    assert "at least 16 characters" in short.content.decode()
    made = marketer.post("/admin/pipeline/leadwebhook/add/", {**form, "signing_secret": SECRET})
    assert made.status_code == 302
    hook = LeadWebhook.objects.get()
    assert hook.secret == SECRET
    page = marketer.get(f"/admin/pipeline/leadwebhook/{hook.pk}/change/").content.decode()
    assert SECRET not in page
    kept = marketer.post(f"/admin/pipeline/leadwebhook/{hook.pk}/change/", {**form, "signing_secret": ""})
    assert kept.status_code == 302
    hook.refresh_from_db()
    assert hook.secret == SECRET
    seller = Client()
    seller.force_login(UserFactory.create(role="sales"))
    assert seller.get("/admin/pipeline/leadwebhook/").status_code == 403
