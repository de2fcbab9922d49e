"""Reading a query's rows ahead on a helper thread gives exactly the rows a plain read gives."""

import threading

import pytest
from django.db import transaction

from audiences.services import audience_refresh
from audiences.sync import destination_sync, lead_hashes
from common.db import rows_read_ahead
from leads.models import Lead
from tests.factories import AudienceFactory, ConsentFactory, EventFactory, LeadFactory, days_ago

OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


def helper_threads():
    return [thread for thread in threading.enumerate() if thread.name == "ladder-read-ahead"]


@pytest.mark.django_db(transaction=True)
def test_read_ahead_gives_every_row_in_order_and_leaves_no_thread():
    LeadFactory.create_batch(23)
    expected = list(Lead.objects.order_by("pk").values_list("pk", "email"))
    assert list(rows_read_ahead(Lead.objects.order_by("pk").values_list("pk", "email"), chunk_size=5)) == expected
    assert helper_threads() == []


@pytest.mark.django_db(transaction=True)
def test_a_caller_that_stops_early_stops_the_helper():
    LeadFactory.create_batch(30)
    rows = rows_read_ahead(Lead.objects.order_by("pk").values_list("pk", flat=True), chunk_size=2, depth=1)
    assert len([next(rows) for _ in range(3)]) == 3
    rows.close()
    assert helper_threads() == []


@pytest.mark.django_db(transaction=True)
def test_the_helpers_error_reaches_the_caller():
    LeadFactory.create()
    broken = Lead.objects.extra(select={"broken": "no_such_column"}).values_list("pk", "broken")  # noqa: S610
    with pytest.raises(Exception, match="no_such_column"):
        list(rows_read_ahead(broken))
    assert helper_threads() == []


@pytest.mark.django_db
def test_inside_a_transaction_the_rows_are_read_in_the_callers_thread():
    """A helper's own connection could not see this transaction's rows; the caller's thread reads them."""
    with transaction.atomic():
        lead = LeadFactory.create()
        seen = []
        for row in rows_read_ahead(Lead.objects.values_list("pk", flat=True)):
            seen.append((row, helper_threads()))
    assert seen == [(lead.pk, [])]


@pytest.mark.django_db(transaction=True)
def test_a_sync_outside_a_transaction_sends_what_a_plain_read_would():
    audience = AudienceFactory.create(rule=OPTED_IN)
    people = LeadFactory.create_batch(12)
    for lead in people:
        EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(1))
        ConsentFactory.create(lead=lead, purpose="ad_audiences", status="granted")
    audience_refresh(audience=audience)
    destination = audience.destinations.create(name="Sandbox", platform="sandbox")
    run = destination_sync(destination=destination)
    sent = [row for batch in run.batches.order_by("pk") for row in batch.payload]
    assert sent == [lead_hashes(lead) for lead in sorted(people, key=lambda lead: lead.pk)]
