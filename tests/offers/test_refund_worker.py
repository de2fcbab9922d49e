"""A worker SIGKILLed while it asks Stripe for a refund loses nothing and refunds once: Stripe had refunded but the
answer never reached Ladder, so the request stays pending; the sweep sends it again with the same idempotency key,
Stripe answers with the refund it already made, and Ladder records it once."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from leads.models import Event
from offers.models import Order, Refund, RefundRequest
from offers.payments.refunds import refund_request_create
from tests import celery_worker
from tests.fakes.stripe_api import SECRET_KEY
from tests.offers.test_checkout import buy_tripwire

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def start_worker(settings, stripe_fake):
    return celery_worker.worker_start(
        settings, STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_API_BASE=stripe_fake.base_url, STRIPE_READ_TIMEOUT="60"
    )


def test_a_refund_whose_worker_died_after_stripe_refunded_is_recorded_once(
    settings, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    buy_tripwire(Client(), funnel, stripe_fake, django_capture_on_commit_callbacks)
    order = Order.objects.get()
    stripe_fake.hold_answers("/v1/refunds", 60)

    first = start_worker(settings, stripe_fake)
    try:
        with celery_worker.publishing_to():
            request = refund_request_create(
                payment=order.payments.get(), amount_minor=300, reason="requested_by_customer", requested_by="test"
            )
        assert celery_worker.wait_for(lambda: stripe_fake.refunds)  # Stripe has refunded; its answer is held
    finally:
        celery_worker.worker_kill(first)
    request.refresh_from_db()
    assert (request.status, Refund.objects.count()) == ("pending", 0)

    stripe_fake.hold_answers("/v1/refunds", 0)
    RefundRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    second = start_worker(settings, stripe_fake)
    try:
        celery_worker.client().send_task("offers.refund_requests_sweep")  # as beat does
        assert celery_worker.wait_for(lambda: RefundRequest.objects.get(pk=request.pk).status != "pending")
    finally:
        celery_worker.worker_stop(second)

    request.refresh_from_db()
    assert request.status == "succeeded"
    assert len(stripe_fake.refunds) == 1  # the idempotency key replayed the first answer
    (refund,) = Refund.objects.all()
    assert (refund.stripe_refund_id, refund.amount_minor, request.refund_id) == (
        next(iter(stripe_fake.refunds)),
        300,
        refund.pk,
    )
    order.refresh_from_db()
    assert (order.refunded_minor, order.status) == (300, "partially_refunded")
    assert sum(e.properties["amount_minor"] for e in Event.objects.filter(type="refund", order_id=order.pk)) == 300
