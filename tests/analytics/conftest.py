import datetime as dt
import io
import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from analytics import services
from funnels.models import Variant
from leads.contracts import EventRefs
from leads.services import event_record
from offers.models import Payment
from offers.orders import order_create
from offers.payments import PageOrigin, payment_succeeded
from tests.factories import LeadFactory, UserFactory, ladder_funnel


def staff_client(role):
    client = Client()
    client.force_login(UserFactory.create(role=role))
    return client


@pytest.fixture
def marketer(db):
    return staff_client("marketer")


@pytest.fixture
def sales(db):
    return staff_client("sales")


@pytest.fixture
def sold(db):
    return build_sold()


def build_sold():
    """A published-shape funnel with a split order form: three visitors, two buyers (one with the bump), folded."""
    funnel, steps = ladder_funnel()
    variants = [Variant.objects.create(step=steps["order"], name=n, weight=1) for n in ("A", "B")]
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for index in range(3):
        visitor = uuid.UUID(int=index + 1)
        for key in ("optin", "order"):
            event_record(
                type="page_view",
                idempotency_key=f"pv:{index}:{key}",
                occurred_at=now,
                visitor_id=visitor,
                refs=EventRefs(
                    funnel_id=funnel.pk,
                    step_id=steps[key].pk,
                    variant_id=variants[index % 2].pk if key == "order" else None,
                ),
            )
        if index == 2:
            continue
        lead = LeadFactory.create()
        offers = [o for o in (steps["order"].offer, steps["order"].bump_offer if index == 0 else None) if o]
        order = order_create(lead=lead, offers=offers, funnel_id=funnel.pk)
        payment = Payment.objects.create(
            order=order, amount_minor=order.total_minor, currency="USD", status="pending", created_at=now,
            **PageOrigin(visitor_id=visitor, step_id=steps["order"].pk, variant_id=variants[index % 2].pk).as_fields(),
        )  # fmt: skip
        order.lines.update(payment=payment)
        payment_succeeded(payment=payment, intent_id=f"pi_{index}", amount_minor=order.total_minor, at=now)
    services.rollups_catch_up()
    return funnel, steps


def command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
