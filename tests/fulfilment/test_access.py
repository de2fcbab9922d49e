"""Buyers get exactly what they paid for, from Stripe's webhook (the source of truth), however often and in whatever
order it comes; a line refunded in full loses its access (or keeps it, if the settings say so); a deliverable added
later reaches earlier buyers."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from fulfilment.models import Access, Deliverable, FulfilmentSettings
from fulfilment.services import deliverable_grant_existing, fulfilment_catch_up, library_of
from offers.models import OrderLine
from tests.offers.test_stripe_webhooks import deliver, event, succeeded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"


def deliverables(order):
    tripwire, bump = (line.offer for line in order.lines.order_by("id"))
    book = Deliverable(offer=tripwire, title="The e-book", kind="file")
    book.file.save("book.pdf", ContentFile(b"%PDF-1.4 book"))  # stores the file, then the row
    notes = Deliverable.objects.create(offer=tripwire, title="Notes", kind="text", text="Key: {key}")
    video = Deliverable.objects.create(offer=bump, title="Video", kind="link", url="https://videos.example.com/1")
    return book, notes, video


def refunded(event_id, refunds, total):
    return event(
        event_id,
        "charge.refunded",
        {
            "id": "ch_1",
            "payment_intent": "pi_1",
            "amount": 2400,
            "amount_refunded": total,
            "refunds": {"data": refunds},
        },
    )


def test_a_paid_order_gets_each_deliverable_of_each_line_once(client, paid_order, django_capture_on_commit_callbacks):
    book, notes, video = deliverables(paid_order)
    fulfilment_catch_up()
    assert not Access.objects.exists(), "nothing before Stripe says it is paid"
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded("evt_1"))
        deliver(client, succeeded("evt_1"))  # the same event again
        deliver(client, succeeded("evt_2"))  # and a second copy under another id
    fulfilment_catch_up()
    fulfilment_catch_up()
    assert sorted(Access.objects.values_list("deliverable__title", flat=True)) == ["Notes", "The e-book", "Video"]
    assert set(Access.objects.values_list("lead_id", flat=True)) == {paid_order.lead_id}
    library = library_of(lead_id=paid_order.lead_id)
    assert [len(entry["accesses"]) for entry in library] == [2, 1]


def test_a_line_refunded_in_full_loses_its_access_and_the_rest_keeps_it(
    client, paid_order, django_capture_on_commit_callbacks
):
    deliverables(paid_order)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
    fulfilment_catch_up()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, refunded("evt_r1", [{"id": "re_1", "amount": 700}], 700))
    fulfilment_catch_up()
    lines = {line.pk: line for line in OrderLine.objects.filter(order=paid_order)}
    for access in Access.objects.all():
        line = lines[access.order_line_id]
        full = line.refunded_minor >= line.charged_minor
        assert (access.revoked_at is not None) == full, (access.deliverable.title, line.refunded_minor)
    assert Access.objects.filter(revoked_at__isnull=True).exists()  # 700 of 2,400 leaves a line paid
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, refunded("evt_r2", [{"id": "re_1", "amount": 700}, {"id": "re_2", "amount": 1700}], 2400))
    fulfilment_catch_up()
    assert not Access.objects.filter(revoked_at__isnull=True).exists()


def test_access_can_outlive_a_refund_when_the_settings_say_so(client, paid_order, django_capture_on_commit_callbacks):
    FulfilmentSettings.objects.update_or_create(pk=1, defaults={"revoke_on_refund": False})
    deliverables(paid_order)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
        deliver(client, refunded("evt_r", [{"id": "re_9", "amount": 2400}], 2400))
    fulfilment_catch_up()
    assert Access.objects.count() == 3
    assert not Access.objects.filter(revoked_at__isnull=False).exists()


def test_a_refund_that_came_before_the_payment_still_ends_with_no_access(
    client, paid_order, django_capture_on_commit_callbacks
):
    deliverables(paid_order)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, refunded("evt_r", [{"id": "re_9", "amount": 2400}], 2400))
        deliver(client, succeeded())
    fulfilment_catch_up()
    assert not Access.objects.filter(revoked_at__isnull=True).exists()


def test_a_deliverable_added_later_reaches_earlier_buyers(client, paid_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
    fulfilment_catch_up()
    assert not Access.objects.exists()
    tripwire = paid_order.lines.order_by("id").first().offer
    bonus = Deliverable.objects.create(offer=tripwire, title="Bonus", kind="link", url="https://example.com/bonus")
    assert deliverable_grant_existing(deliverable=bonus) == 1
    assert deliverable_grant_existing(deliverable=bonus) == 0
    assert Access.objects.get().deliverable == bonus
