"""Marketer and sales see what they may, and get 403 on what they may not, enforced by the server."""

import pytest
from django.urls import reverse

from offers.models import Offer
from tests.factories import DestinationFactory, LeadFactory, OfferFactory, UserFactory, ladder_funnel

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer_client(client):
    client.force_login(UserFactory.create(username="mia", role="marketer"))
    return client


@pytest.fixture
def sales_client(client):
    client.force_login(UserFactory.create(username="sam", role="sales"))
    return client


def test_marketer_builds_funnels_offers_audiences_and_works_leads(marketer_client):
    funnel, _ = ladder_funnel()
    for name in [
        "admin:funnels_funnel_add",
        "admin:offers_offer_add",
        "admin:offers_coupon_add",
        "admin:audiences_audience_add",
        "admin:audiences_destination_changelist",
        "admin:leads_lead_changelist",
        "admin:offers_order_changelist",
        "admin:offers_stripeevent_changelist",
    ]:
        assert marketer_client.get(reverse(name)).status_code == 200, name
    assert marketer_client.get(reverse("admin:funnels_funnel_change", args=[funnel.pk])).status_code == 200


def test_marketer_cannot_manage_staff_accounts_or_rewrite_history(marketer_client):
    assert marketer_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert marketer_client.get(reverse("admin:leads_event_changelist")).status_code == 200
    assert marketer_client.get(reverse("admin:leads_event_add")).status_code == 403
    assert marketer_client.get(reverse("admin:offers_order_add")).status_code == 403


def test_sales_works_leads_and_the_pipeline(sales_client):
    lead = LeadFactory.create()
    assert sales_client.get(reverse("admin:leads_lead_changelist")).status_code == 200
    assert sales_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200
    assert sales_client.get(reverse("admin:leads_stage_add")).status_code == 200


def test_sales_reads_funnels_and_offers_but_cannot_change_them(sales_client):
    offer = OfferFactory.create(name="Swipe file", amount_minor=700)
    page = sales_client.get(reverse("admin:offers_offer_change", args=[offer.pk]))
    assert page.status_code == 200
    assert b'name="name"' not in page.content  # read-only view, no inputs

    response = sales_client.post(
        reverse("admin:offers_offer_change", args=[offer.pk]),
        {"name": "Swipe file", "price": "0", "currency": "USD", "role": "tripwire", "slug": offer.slug},
    )
    assert response.status_code == 403
    offer.refresh_from_db()
    assert offer.amount_minor == 700
    assert sales_client.get(reverse("admin:offers_offer_add")).status_code == 403
    assert sales_client.post(reverse("admin:offers_offer_delete", args=[offer.pk]), {"post": "yes"}).status_code == 403
    assert Offer.objects.filter(pk=offer.pk).exists()

    funnel, _ = ladder_funnel()
    assert sales_client.get(reverse("admin:funnels_funnel_change", args=[funnel.pk])).status_code == 200
    assert sales_client.post(reverse("admin:funnels_funnel_publish", args=[funnel.pk])).status_code == 403
    assert sales_client.post(reverse("admin:funnels_funnel_clone", args=[funnel.pk])).status_code == 403
    funnel.refresh_from_db()
    assert funnel.status == "draft"


def test_sales_cannot_see_destinations_secrets_or_payment_internals(sales_client):
    destination = DestinationFactory.create(connection__credentials="EAAB-secret")
    for url in [
        reverse("admin:audiences_destination_changelist"),
        reverse("admin:audiences_destination_change", args=[destination.pk]),
        reverse("admin:audiences_connection_changelist"),
        reverse("admin:audiences_connection_change", args=[destination.connection.pk]),
        reverse("admin:offers_payment_changelist"),
        reverse("admin:offers_refund_changelist"),
        reverse("admin:offers_coupon_changelist"),
        reverse("admin:offers_stripeevent_changelist"),
    ]:
        assert sales_client.get(url).status_code == 403, url
    audience_page = sales_client.get(reverse("admin:audiences_audience_change", args=[destination.audience.pk]))
    assert audience_page.status_code == 200
    assert b"Meta prospects" not in audience_page.content  # the destinations inline is not shown to sales
    assert b"EAAB-secret" not in audience_page.content


def test_destination_credentials_are_never_rendered(client):
    client.force_login(UserFactory.create(username="root", is_superuser=True))
    destination = DestinationFactory.create(connection__credentials="EAAB-secret")
    for url in (
        reverse("admin:audiences_destination_change", args=[destination.pk]),
        reverse("admin:audiences_connection_change", args=[destination.connection.pk]),
        reverse("admin:audiences_connection_changelist"),
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert b"EAAB-secret" not in page.content
