import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Note
from tests.admin_forms import errors_of, form_data
from tests.factories import ConsentFactory, EventFactory, LeadFactory, ladder_funnel

pytestmark = pytest.mark.django_db


def add_lead(client, **fields):
    url = reverse("admin:leads_lead_add")
    data = form_data(client, url)
    data.update(fields)
    return client.post(url, data)


def test_lead_is_saved_normalized(admin_client):
    response = add_lead(admin_client, email="  Ada@Example.COM ", phone="(415) 555-2671", country="us")
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.email, lead.phone, lead.country) == ("ada@example.com", "+14155552671", "US")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "'not-an-email' is not a valid e-mail address."),
        ({"email": "ada@example.com", "phone": "12345", "country": "US"}, "phone", "'12345' is not a valid phone"),
        ({"email": "ada@example.com", "phone": "555 2671"}, "phone", "Include the country code"),
        ({"email": "ada@example.com", "country": "USA"}, "country", "not an ISO 3166-1 alpha-2 country code"),
    ],
)
def test_bad_lead_input_is_a_field_error_and_saves_nothing(admin_client, fields, field, message):
    response = add_lead(admin_client, **fields)
    assert response.status_code == 200
    assert message in " ".join(errors_of(response)[field])
    assert Lead.objects.count() == 0


def test_duplicate_email_in_other_case_is_refused(admin_client):
    LeadFactory.create(email="ada@example.com")
    response = add_lead(admin_client, email="ADA@example.com")
    assert errors_of(response)["email"] == ["Lead with this Email already exists."]
    assert Lead.objects.count() == 1


def test_note_records_its_author(admin_client, admin_user):
    lead = LeadFactory.create()
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    data = form_data(admin_client, url)
    data["notes-0-body"] = "Asked for a call next week."
    assert admin_client.post(url, data).status_code == 302
    note = Note.objects.get()
    assert (note.lead, note.author, note.body) == (
        lead,
        admin_user,
        "Asked for a call next week.",
    )


def test_lead_detail_shows_timeline_orders_and_consents_escaped(admin_client):
    lead = LeadFactory.create(first_name="<script>alert(1)</script>")
    EventFactory.create(lead=lead, type="custom", name="<b>webinar</b>")
    ConsentFactory.create(lead=lead, wording="I agree to <ads>")
    page = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "&lt;b&gt;webinar&lt;/b&gt;" in page
    assert "<b>webinar</b>" not in page
    assert "I agree to &lt;ads&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "No orders yet." in page


def test_lead_list_filters(admin_client):
    funnel, _ = ladder_funnel()
    old = LeadFactory.create(email="old@example.com", country="DE")
    old.created_at = timezone.now() - dt.timedelta(days=40)
    old.save()
    consented = LeadFactory.create(email="yes@example.com", country="US")
    ConsentFactory.create(lead=consented)
    withdrawn = LeadFactory.create(email="no@example.com", country="US")
    ConsentFactory.create(lead=withdrawn, occurred_at=timezone.now() - dt.timedelta(days=1))
    ConsentFactory.create(lead=withdrawn, status="withdrawn")
    EventFactory.create(lead=consented, funnel_id=funnel.pk)

    def emails(query):
        response = admin_client.get(reverse("admin:leads_lead_changelist") + query)
        assert response.status_code == 200
        return sorted(lead.email for lead in response.context["cl"].result_list)

    assert emails("?ad_consent=granted") == ["yes@example.com"]
    assert emails("?ad_consent=withdrawn") == ["no@example.com"]
    assert emails("?ad_consent=none") == ["old@example.com"]
    assert emails("?country=DE") == ["old@example.com"]
    assert emails(f"?funnel={funnel.pk}") == ["yes@example.com"]
    since = (timezone.now() - dt.timedelta(days=7)).date().isoformat()
    assert emails(f"?created_at__since={since}") == ["no@example.com", "yes@example.com"]
    until = (timezone.now() - dt.timedelta(days=30)).date().isoformat()
    assert emails(f"?created_at__until={until}") == ["old@example.com"]
    assert emails("?q=yes@") == ["yes@example.com"]


def test_bad_date_in_range_filter_is_explained_not_a_crash(admin_client):
    LeadFactory.create()
    response = admin_client.get(reverse("admin:leads_lead_changelist") + "?created_at__since=yesterday")
    assert response.status_code == 200
    assert "From: &#x27;yesterday&#x27; is not a date (YYYY-MM-DD); ignored." in response.content.decode()


def test_notes_are_append_only(admin_client, admin_user):
    from tests.factories import UserFactory

    lead = LeadFactory.create()
    author = UserFactory.create(username="sam", role="sales")
    Note.objects.create(lead=lead, author=author, body="Called, no answer.")
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    page = admin_client.get(url).content.decode()
    assert "Called, no answer." in page
    assert "Called, no answer.</textarea>" not in page  # shown, not editable
    data = form_data(admin_client, url)
    data["notes-0-body"] = "Left a voicemail."
    assert admin_client.post(url, data).status_code == 302
    assert list(Note.objects.order_by("created_at").values_list("body", "author__username")) == [
        ("Called, no answer.", "sam"),
        ("Left a voicemail.", admin_user.username),
    ]


def test_a_withdrawal_recorded_in_the_admin_reaches_the_audiences_at_once(admin_client):
    from audiences.models import AudienceMember
    from audiences.tasks import audiences_refresh_marked
    from leads.models import Consent, LeadMark
    from tests.factories import AudienceFactory

    lead = LeadFactory.create()
    ConsentFactory.create(lead=lead, purpose="ad_audiences", occurred_at=timezone.now() - dt.timedelta(days=1))
    audience = AudienceFactory.create(rule={"lead": {"consent": "ad_audiences"}})
    LeadMark.objects.all().delete()
    audiences_refresh_marked()  # nothing marked: nothing changes
    AudienceMember.objects.create(audience=audience, lead=lead, since=timezone.now())
    url = reverse("admin:leads_consent_add")
    data = form_data(admin_client, url)
    data.update(
        lead=lead.pk,
        purpose="ad_audiences",
        status="withdrawn",
        wording="Withdrawn by phone.",
        source="admin",
        legal_basis="consent",
        occurred_at_0=timezone.localdate().isoformat(),
        occurred_at_1="00:00:00",
    )
    assert admin_client.post(url, data).status_code == 302
    assert Consent.objects.filter(lead=lead, status="withdrawn").exists()
    assert LeadMark.objects.filter(lead=lead).exists()  # the audiences are told
    audiences_refresh_marked()
    assert not AudienceMember.objects.filter(audience=audience, lead=lead).exists()
