"""The customer library: a one-time e-mailed sign-in (used once, within 30 minutes, after a click), then everything
bought, each opened through a signed, expiring, rate-limited and logged link; clear pages for every refusal."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from fulfilment.library import access_path
from fulfilment.models import Access, Deliverable, Download, LibrarySignIn
from fulfilment.services import fulfilment_catch_up
from tests.offers.test_stripe_webhooks import deliver, succeeded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture
def bought(client, paid_order, django_capture_on_commit_callbacks):
    tripwire, bump = (line.offer for line in paid_order.lines.order_by("id"))
    book = Deliverable(offer=tripwire, title="The e-book", kind="file", position=1)
    book.file.save("the-book.pdf", ContentFile(b"%PDF-1.4 the book"))
    Deliverable.objects.create(offer=tripwire, title="Licence", kind="text", text="Key {key} for order {order}")
    Deliverable.objects.create(offer=bump, title="Video", kind="link", url="https://videos.example.com/1")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
    fulfilment_catch_up()
    return paid_order


def sign_in_path() -> str:
    found = re.search(r"/library/sign-in/[^/\s]+/", str(mail.outbox[-1].body))
    assert found is not None
    return found.group(0)


def signed_in(order) -> Client:
    browser = Client()
    browser.post("/library/", {"email": order.lead.email})
    path = sign_in_path()
    assert browser.get(path).status_code == 200  # asks for the click; a mail scanner's visit spends nothing
    assert browser.post(path).status_code == 302
    return browser


def test_a_buyer_signs_in_by_email_once_and_sees_what_they_bought(bought):
    browser = signed_in(bought)
    page = browser.get("/library/").content.decode()
    assert "The e-book" in page
    assert "Licence" in page
    assert "Video" in page
    link = sign_in_path()
    assert Client().post(link).status_code == 410, "a sign-in link works once"


def test_the_form_says_the_same_for_an_address_that_bought_nothing():
    answer = Client().post("/library/", {"email": "stranger@example.com"})
    assert answer.status_code == 200
    assert "If <strong>stranger@example.com</strong> has bought from us" in answer.content.decode()
    assert mail.outbox == []


def test_an_expired_or_tampered_sign_in_link_is_refused(bought):
    Client().post("/library/", {"email": bought.lead.email})
    link = sign_in_path()
    assert Client().get(link[:-3] + "xx/").status_code == 410
    LibrarySignIn.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    answer = Client().post(link)
    assert answer.status_code == 410
    assert "works once, for 30 minutes" in answer.content.decode()


def test_each_kind_opens_and_every_opening_is_logged_without_the_address(bought):
    accesses = {a.deliverable.title: a for a in Access.objects.select_related("deliverable")}
    browser = Client(REMOTE_ADDR="203.0.113.9")
    book = browser.get(access_path(accesses["The e-book"]))
    assert book.status_code == 200
    assert b"".join(book.streaming_content) == b"%PDF-1.4 the book"  # type: ignore[attr-defined]
    assert "attachment" in book["Content-Disposition"]
    video = browser.get(access_path(accesses["Video"]))
    assert (video.status_code, video["Location"]) == (302, "https://videos.example.com/1")
    licence = browser.get(access_path(accesses["Licence"])).content.decode()
    assert f"Key {accesses['Licence'].key} for order {bought.pk}" in licence
    assert Download.objects.count() == 3
    assert not Download.objects.filter(ip_hash__contains="203.0.113").exists()
    assert Access.objects.get(pk=accesses["The e-book"].pk).downloads == 1


def test_tampered_expired_and_refunded_links_get_a_clear_page(bought, monkeypatch):
    access = Access.objects.filter(deliverable__title="The e-book").get()
    path = access_path(access)
    tampered = Client().get(path[:-5] + "abcd/")
    assert tampered.status_code == 404
    assert "not valid" in tampered.content.decode()
    later = time.time() + 73 * 3600
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    expired = Client().get(path)
    assert expired.status_code == 410
    assert "expired" in expired.content.decode()
    monkeypatch.undo()
    Access.objects.filter(pk=access.pk).update(revoked_at=timezone.now())
    refunded = Client().get(path)
    assert refunded.status_code == 403
    assert "refunded" in refunded.content.decode()


def test_a_link_opened_too_often_is_slowed(bought, settings):
    settings.CAPTURE_THROTTLE_RATES = {**settings.CAPTURE_THROTTLE_RATES, "library_download": "2/hour"}
    access = Access.objects.filter(deliverable__title="Video").get()
    answers = [Client().get(access_path(access)).status_code for _ in range(3)]
    assert answers == [302, 302, 429]


def test_refused_links_never_reach_the_logs(bought, caplog):
    access = Access.objects.filter(deliverable__title="Video").get()
    token = access_path(access).rstrip("/").rsplit("/", 1)[1]
    Access.objects.filter(pk=access.pk).update(revoked_at=timezone.now())
    with caplog.at_level("WARNING"):
        assert Client().get(access_path(access)).status_code == 403
        assert Client().post("/library/sign-in/" + token + "/").status_code == 410
    assert "Forbidden" in caplog.text  # Django logged the refusals, with the path masked
    assert token not in caplog.text


def test_support_sees_a_buyers_library_as_the_buyer_does(bought):
    from fulfilment.emails import emails_send
    from tests.factories import UserFactory

    emails_send()
    support = Client()
    support.force_login(UserFactory.create(role="sales"))
    page = support.get(f"/admin/fulfilment/access/library/{bought.lead_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "The e-book" in text
    assert "Receipt" in text
    assert "Sent" in text


def test_the_orders_page_leads_to_what_the_buyer_got(bought):
    from tests.factories import UserFactory

    support = Client()
    support.force_login(UserFactory.create(role="sales"))
    page = support.get(f"/admin/offers/order/{bought.pk}/change/").content.decode()
    assert f"/admin/fulfilment/access/library/{bought.lead_id}/" in page
