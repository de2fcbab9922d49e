import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from funnels import snapshots
from funnels.models import Funnel
from funnels.services import funnel_unpublish
from tests.admin_forms import errors_of, form_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    snapshots.forget_all()
    yield
    snapshots.forget_all()


def test_snapshot_is_reused_within_its_lifetime_then_reloaded(live_funnel, settings, monkeypatch):
    funnel, _ = live_funnel
    settings.CAPTURE_FUNNEL_CACHE_SECONDS = 10
    clock = [1000.0]
    monkeypatch.setattr(snapshots.time, "monotonic", lambda: clock[0])

    first = snapshots.funnel_snapshot(public_key=funnel.public_key)
    assert first is not None
    assert first.live
    optin = first.optin_step(None)
    assert optin is not None
    assert optin.slug == "optin"
    assert first.next_slug(first.steps["optin"], "accept") == "order"
    assert first.origins == frozenset({"https://shop.example.com", "https://www.example.com"})

    funnel_unpublish(funnel=funnel)
    with CaptureQueriesContext(connection) as queries:
        cached = snapshots.funnel_snapshot(public_key=funnel.public_key)
    assert cached is first
    assert len(queries) == 0  # within its lifetime the API answers from memory
    clock[0] += 11
    reloaded = snapshots.funnel_snapshot(public_key=funnel.public_key)
    assert reloaded is not None
    assert not reloaded.live  # an unpublish reaches the API once the snapshot expires


def test_unknown_keys_are_remembered_as_unknown(db):
    assert snapshots.funnel_snapshot(public_key="pk_nobody") is None
    assert snapshots._by_key["pk_nobody"][1] is None


def test_live_origins_cover_every_live_funnel(live_funnel):
    assert snapshots.live_origins() == frozenset({"https://shop.example.com", "https://www.example.com"})


def test_admin_normalizes_allowed_origins_and_explains_bad_ones(client, live_funnel):
    funnel, _ = live_funnel
    client.force_login(UserFactory.create(username="mia", role="marketer"))
    url = reverse("admin:funnels_funnel_change", args=[funnel.pk])
    page = client.get(url).content.decode()
    assert funnel.public_key in page

    data = form_data(client, url)
    data["allowed_origins"] = "https://Shop.Example.com/\n\nhttp://localhost:3000"
    assert client.post(url, data).status_code == 302
    funnel.refresh_from_db()
    assert funnel.allowed_origins == "https://shop.example.com\nhttp://localhost:3000"

    data["allowed_origins"] = "https://shop.example.com/landing?x=1"
    response = client.post(url, data)
    assert errors_of(response)["allowed_origins"] == [
        "'https://shop.example.com/landing?x=1' is not an origin: write the scheme and host only, "
        "e.g. https://www.example.com."
    ]
    assert Funnel.objects.get(pk=funnel.pk).allowed_origins == "https://shop.example.com\nhttp://localhost:3000"
