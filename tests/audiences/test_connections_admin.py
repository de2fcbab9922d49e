"""A marketer's connections in the admin: made once, picked by destinations and pixels, checked on demand, and kept
while anything sends through them."""

import pytest
from django.test import Client
from django.urls import reverse

from audiences.models import Connection, Destination
from tests.admin_forms import form_data
from tests.factories import AudienceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer():
    client = Client()
    client.force_login(UserFactory.create(role="marketer"))
    return client


def test_a_marketer_makes_a_connection_once_and_picks_it_for_a_destination_and_a_pixel(marketer):
    add = reverse("admin:audiences_connection_add")
    data = {**form_data(marketer, add), "name": "Preview", "platform": "sandbox"}
    assert marketer.post(add, data).status_code == 302
    sandbox = Connection.objects.get()
    Connection.objects.create(name="Pixel token", platform="meta", credentials="EAAB-pixel")

    listing = marketer.get(reverse("admin:audiences_connection_changelist")).content.decode()
    assert "Sending" in listing
    assert "0 audience destination(s), 0 conversion destination(s)" in listing
    assert "EAAB-pixel" not in listing

    audience = AudienceFactory.create()
    destination_page = marketer.get(reverse("admin:audiences_destination_add")).content.decode()
    assert f'<option value="{sandbox.pk}">Preview (Sandbox' in destination_page
    data = {
        **form_data(marketer, reverse("admin:audiences_destination_add")),
        "audience": audience.pk,
        "name": "Preview",
        "connection": sandbox.pk,
    }
    assert marketer.post(reverse("admin:audiences_destination_add"), data).status_code == 302
    assert Destination.objects.get().connection == sandbox

    pixel_page = marketer.get(reverse("admin:audiences_conversiondestination_add")).content.decode()
    assert "Pixel token (Meta)" in pixel_page
    assert f'<option value="{sandbox.pk}"' not in pixel_page  # conversions go to Meta or Google only


def test_a_connection_in_use_is_not_deleted_and_a_check_says_what_it_found(marketer):
    sandbox = Connection.objects.create(name="Preview", platform="sandbox", paused_reason="Refused, once.")
    Destination.objects.create(audience=AudienceFactory.create(), name="Preview", connection=sandbox)

    delete = reverse("admin:audiences_connection_delete", args=[sandbox.pk])
    page = marketer.get(delete).content.decode()
    assert "would require deleting the following protected related objects" in page
    marketer.post(delete, {"post": "yes"})
    assert Connection.objects.filter(pk=sandbox.pk).exists()

    changelist = reverse("admin:audiences_connection_changelist")
    response = marketer.post(changelist, {"action": "check_now", "_selected_action": [sandbox.pk]}, follow=True)
    assert "the credentials reach the account; it is sending." in response.content.decode()
    sandbox.refresh_from_db()
    assert sandbox.paused_reason == ""
    assert sandbox.checked_at is not None
