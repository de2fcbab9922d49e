"""The upgrade that gives destinations and conversion destinations one shared connection: each keeps its account,
credentials and wait; those with the same account and credentials share one connection; the conversion destinations
and their deliveries move to audiences with their rows; downgrading puts every field back."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("audiences", "0011_destination_value_based"), ("leads", "0014_undeliverable_addresses")]
AFTER = [("audiences", "0013_conversions_from_leads"), ("leads", "0015_conversions_to_audiences")]


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def migrate(targets):
    """Migrate to ``targets``; returns the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_destinations_and_conversions_get_their_connections_with_everything_they_had():
    old = migrate(BEFORE)
    audience_model, destination_model = (
        old.get_model("audiences", "Audience"),
        old.get_model("audiences", "Destination"),
    )
    lead_model, event_model = old.get_model("leads", "Lead"), old.get_model("leads", "Event")
    conversion_model = old.get_model("leads", "ConversionDestination")
    delivery_model = old.get_model("leads", "ConversionDelivery")
    first = audience_model.objects.create(name="Prospects", slug="prospects", rule={})
    second = audience_model.objects.create(name="Buyers", slug="buyers", rule={})
    third = audience_model.objects.create(name="Lapsed", slug="lapsed", rule={})
    waits = timezone.now() + dt.timedelta(minutes=20)
    meta = {"platform": "meta", "account_id": "act_1", "credentials": "EAAB-one"}
    destination_model.objects.create(audience=first, name="Meta prospects", wait_until=waits, **meta)
    destination_model.objects.create(audience=second, name="Meta buyers", **meta)  # the same account: one connection
    destination_model.objects.create(
        audience=third, name="Other", platform="meta", account_id="act_1", credentials="EAAB-two"
    )
    destination_model.objects.create(
        audience=first,
        name="Partner",
        platform="webhook",
        endpoint_url="https://partner.example/in",
        credentials="s" * 20,
    )
    pixel = conversion_model.objects.create(name="Pixel", platform="meta", remote_id="42", credentials="EAAB-one")
    conversion_model.objects.create(
        name="Action", platform="google", remote_id="7", account_id="123-456-7890", credentials='{"token": "g"}'
    )
    lead = lead_model.objects.create(email="ada@example.com")
    event = event_model.objects.create(lead=lead, type="optin", occurred_at=timezone.now(), idempotency_key="k1")
    delivery_model.objects.create(destination=pixel, event=event, next_attempt_at=timezone.now(), client={"ip": "1"})

    new = migrate(AFTER)
    connection_model = new.get_model("audiences", "Connection")
    destinations = {d.name: d for d in new.get_model("audiences", "Destination").objects.select_related("connection")}
    conversions = {d.name: d for d in new.get_model("audiences", "ConversionDestination").objects.all()}

    assert destinations["Meta prospects"].connection_id == destinations["Meta buyers"].connection_id
    assert destinations["Other"].connection_id != destinations["Meta prospects"].connection_id
    shared = destinations["Meta prospects"].connection
    assert (shared.platform, shared.account_id, shared.credentials, shared.wait_until) == (
        "meta",
        "act_1",
        "EAAB-one",
        waits,
    )
    webhook = destinations["Partner"].connection
    assert (webhook.endpoint_url, webhook.credentials) == ("https://partner.example/in", "s" * 20)
    pixel_connection = connection_model.objects.get(pk=conversions["Pixel"].connection_id)
    assert (pixel_connection.platform, pixel_connection.account_id, pixel_connection.credentials) == (
        "meta",
        "",  # a pixel names no ad account: its own connection, though the token is the audiences' token
        "EAAB-one",
    )
    google = connection_model.objects.get(pk=conversions["Action"].connection_id)
    assert (google.platform, google.account_id, google.credentials) == ("google", "123-456-7890", '{"token": "g"}')
    assert connection_model.objects.count() == 5
    delivery = new.get_model("audiences", "ConversionDelivery").objects.get()
    assert (delivery.destination_id, delivery.event_id, delivery.client) == (pixel.pk, event.pk, {"ip": "1"})

    back = migrate(BEFORE)
    restored = {d.name: d for d in back.get_model("audiences", "Destination").objects.all()}
    assert (restored["Other"].account_id, restored["Other"].credentials) == ("act_1", "EAAB-two")
    assert restored["Meta prospects"].wait_until == waits
    pixel_again = back.get_model("leads", "ConversionDestination").objects.get(name="Pixel")
    assert (pixel_again.platform, pixel_again.credentials) == ("meta", "EAAB-one")
    assert back.get_model("leads", "ConversionDelivery").objects.get().client == {"ip": "1"}
