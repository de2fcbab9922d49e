"""API opt-ins through the Redis inbox: accepted at once, written by the flusher as the full path writes them."""

import json
import logging
import uuid

import pytest
from django.core import mail
from django.utils import timezone

from funnels.capture import flush as capture_flush
from funnels.tasks import lead_magnet_sweep
from leads import inbox
from leads.identity import email_fingerprint
from leads.models import Consent, ConversionOutbox, Event, Lead, LeadMark, Suppression, Touch
from leads.services import lead_forget
from tests.funnels.conftest import ADS_WORDING, EMAIL_WORDING
from tests.funnels.test_api import BAD_OPTIN_FIELDS, nothing_stored, optin_body, post

pytestmark = [pytest.mark.redis, pytest.mark.django_db, pytest.mark.usefixtures("inbox_on")]
CAMPAIGN_URL = "https://shop.example.com/ebook?utm_source=facebook&utm_campaign=spring&fbclid=IwAR1"


def queued(client, body):
    response = post(client, "/api/v1/optins", body)
    assert response.status_code == 202, response.content
    return response


def flush(capture):
    with capture(execute=True):
        return capture_flush.capture_inbox_flush()[1]


def stored(email):
    """What an opt-in left behind, without the ids and times that differ between two runs."""
    lead = Lead.objects.get(email=email)
    event = Event.objects.get(type="optin", lead=lead)
    return {
        "lead": (lead.email, lead.phone, lead.first_name, lead.last_name, lead.country),
        "consents": sorted(lead.consents.values_list("purpose", "status", "wording", "source", "legal_basis", "eea")),
        "event": (event.funnel_id, event.step_id, event.variant_id, event.offer_id, event.visitor_id is not None),
        "touches": sorted(
            Touch.objects.filter(lead=lead).values_list("kind", "utm_source", "utm_campaign", "fbclid", "referrer")
        ),
        "marked": LeadMark.objects.filter(lead=lead).exists(),
        "conversion queued": ConversionOutbox.objects.filter(event=event).exists(),
        "mail": [m.to for m in mail.outbox if m.to == [email]],
    }


def test_a_queued_optin_is_written_as_the_full_path_writes_it(
    client, live_funnel, settings, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    details = {
        "first_name": "  Ada ",
        "last_name": "Lovelace",
        "phone": "(415) 555-2671",
        "consents": ["ad_audiences", "marketing_email"],
        "url": CAMPAIGN_URL,
        "referrer": "https://l.facebook.com/",
    }
    settings.EVENT_INBOX = False  # the full path, written before the answer
    with django_capture_on_commit_callbacks(execute=True):
        direct = post(client, "/api/v1/optins", optin_body(funnel, id="direct", email="ada@example.com", **details))
    assert direct.status_code == 201
    settings.EVENT_INBOX = True
    details["first_name"] = "Ada"  # the fast path takes only what the full path would keep as sent

    answer = queued(client, optin_body(funnel, id="queued", email="Grace@Example.com", **details))

    assert answer.json() == {"recorded": None, "next_url": f"/f/{funnel.slug}/order/"}
    assert not Lead.objects.filter(email="grace@example.com").exists()
    assert flush(django_capture_on_commit_callbacks) == 1
    mine, theirs = stored("grace@example.com"), stored("ada@example.com")
    assert mine["lead"] == ("grace@example.com", "+14155552671", "Ada", "Lovelace", "US")
    assert mine["consents"] == [
        ("ad_audiences", "granted", ADS_WORDING, f"api {funnel.slug} / optin", "consent", False),
        ("marketing_email", "granted", EMAIL_WORDING, f"api {funnel.slug} / optin", "consent", False),
    ]
    assert mine["mail"] == [["grace@example.com"]]
    assert {**mine, "lead": None, "mail": None} == {**theirs, "lead": None, "mail": None}
    assert mine["conversion queued"]  # reported server-side, as the direct path does
    assert inbox.inbox_size(inbox.OPTIN_INBOX_KEY) == 0


def test_a_returning_visitors_earlier_events_and_landing_are_linked(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    visitor = str(uuid.uuid4())
    landing = {"id": "pv1", "type": "page_view", "visitor_id": visitor, "step": "optin", "url": CAMPAIGN_URL}
    beacon = client.post(
        "/api/v1/events",
        json.dumps({"key": funnel.public_key, "events": [landing]}),
        content_type="application/json",
        HTTP_ORIGIN="https://shop.example.com",
    )
    assert beacon.status_code == 202
    capture_flush.capture_inbox_flush()

    queued(client, optin_body(funnel, visitor_id=visitor, url="https://shop.example.com/ebook"))
    assert flush(django_capture_on_commit_callbacks) == 1

    lead = Lead.objects.get()
    assert set(Event.objects.filter(visitor_id=visitor).values_list("type", "lead")) == {
        ("page_view", lead.pk),
        ("optin", lead.pk),
    }
    touches = dict(Touch.objects.filter(lead=lead).values_list("kind", "utm_campaign"))
    assert touches == {"first": "spring", "last": "spring"}  # the landing, as this visit came from no campaign


def test_a_double_submit_and_a_replayed_batch_record_one_optin(client, live_funnel, django_capture_on_commit_callbacks):
    funnel, _ = live_funnel
    body = optin_body(funnel, consents=["marketing_email"])
    queued(client, body)
    queued(client, body)
    raws = inbox.redis().lrange(inbox.cache.make_key(inbox.OPTIN_INBOX_KEY), 0, -1)

    assert flush(django_capture_on_commit_callbacks) == 1
    inbox.redis().rpush(inbox.cache.make_key(inbox.OPTIN_INBOX_KEY), *raws)  # as after a crash before the trim
    assert flush(django_capture_on_commit_callbacks) == 0

    counts = (Lead.objects.count(), Event.objects.filter(type="optin").count(), Consent.objects.count())
    assert counts == (1, 1, 1)
    assert len(mail.outbox) == 1


def test_one_address_twice_in_a_batch_is_one_lead_with_both_optins(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    queued(client, optin_body(funnel, id="first", first_name="Ada"))
    queued(client, optin_body(funnel, id="second", last_name="Lovelace", phone="+44 20 7946 0958"))

    assert flush(django_capture_on_commit_callbacks) == 2

    lead = Lead.objects.get()
    # The second submission fills what the first left empty; the country the first set (the funnel's default) stays,
    # as it would have through the API: a public form never replaces a known detail.
    assert (lead.first_name, lead.last_name, lead.phone, lead.country) == ("Ada", "Lovelace", "+442079460958", "US")
    assert Event.objects.filter(type="optin", lead=lead).count() == 2
    assert len(mail.outbox) == 1  # one lead magnet per lead and step


def test_new_details_fill_in_a_known_lead_and_empty_ones_erase_nothing(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    known = Lead.objects.create(email="ada@example.com", first_name="Ada", phone="+14155552671", country="US")
    queued(client, optin_body(funnel, last_name="Lovelace"))

    assert flush(django_capture_on_commit_callbacks) == 1

    known.refresh_from_db()
    assert (known.first_name, known.last_name, known.phone, known.country) == ("Ada", "Lovelace", "+14155552671", "US")
    assert known.updated_at > known.created_at


def test_an_address_that_asked_to_be_forgotten_is_refused_and_never_logged(
    client, live_funnel, caplog, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    queued(client, optin_body(funnel, email="ada@example.com"))
    assert flush(django_capture_on_commit_callbacks) == 1
    lead_forget(lead=Lead.objects.get(email="ada@example.com"))
    assert Suppression.objects.filter(email_sha256=email_fingerprint("ada@example.com")).exists()
    queued(client, optin_body(funnel, id="again", email="ada@example.com"))

    with caplog.at_level(logging.INFO, logger="leads.inbox"):
        assert flush(django_capture_on_commit_callbacks) == 0

    assert not Lead.objects.filter(email="ada@example.com").exists()
    assert Event.objects.filter(type="optin").count() == 1  # the first, kept pseudonymous
    assert "1 queued opt-ins refused" in caplog.text
    assert "ada" not in caplog.text.lower()


@pytest.mark.parametrize(("extra", "field", "message"), BAD_OPTIN_FIELDS)
def test_anything_doubtful_takes_the_full_path_and_is_refused_there(client, live_funnel, extra, field, message):
    funnel, _ = live_funnel
    response = post(client, "/api/v1/optins", optin_body(funnel, **extra))
    assert response.status_code == 400
    assert message in json.dumps(response.json()[field])
    assert inbox.inbox_size(inbox.OPTIN_INBOX_KEY) == 0
    assert nothing_stored()


def test_what_the_fast_path_is_unsure_of_is_written_at_once_by_the_full_path(client, live_funnel):
    funnel, _ = live_funnel
    response = post(client, "/api/v1/optins", optin_body(funnel, first_name=" Ada "))  # DRF trims; the fast path defers
    assert response.status_code == 201
    assert Lead.objects.get().first_name == "Ada"
    assert inbox.inbox_size(inbox.OPTIN_INBOX_KEY) == 0


def test_queued_optins_count_in_the_same_throttle_windows(client, live_funnel, settings):
    funnel, _ = live_funnel
    statuses = [post(client, "/api/v1/optins", optin_body(funnel, id=f"sub-{i}")).status_code for i in range(11)]
    assert statuses == [202] * 10 + [429]
    other = post(client, "/api/v1/optins", optin_body(funnel, id="sub-x", email="grace@example.com"))
    assert other.status_code == 202
    assert inbox.inbox_size(inbox.OPTIN_INBOX_KEY) == 11


def test_the_sweep_still_finds_a_lead_magnet_whose_task_was_lost(client, live_funnel):
    funnel, _ = live_funnel
    queued(client, optin_body(funnel))
    capture_flush.capture_inbox_flush()  # the on-commit task never ran, as when the broker is down
    assert mail.outbox == []
    assert lead_magnet_sweep() == 1
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert Event.objects.filter(name="lead_magnet_sent", occurred_at__lte=timezone.now()).count() == 1


def test_a_queued_submission_id_reused_for_another_address_leaves_no_lead_behind(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    queued(client, optin_body(funnel, id="same"))
    assert flush(django_capture_on_commit_callbacks) == 1
    queued(client, optin_body(funnel, id="same", email="grace@example.com"))
    assert flush(django_capture_on_commit_callbacks) == 0
    assert list(Lead.objects.values_list("email", flat=True)) == ["ada@example.com"]
    assert Event.objects.filter(type="optin").count() == 1
