"""Sign-ups are rate limited on every path (hosted forms, the API, checkout starts), per client address and per
e-mail address, and one address gets at most a few lead-magnet e-mails a day however many forms it is typed into."""

import pytest
from django.core import mail
from django.core.cache import cache

from funnels.tasks import lead_magnet_email
from leads.models import Event, Lead
from tests.factories import LeadFactory
from tests.funnels.test_api import optin_body, post
from tests.funnels.test_pages import optin_form, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tight_limits(settings):
    cache.clear()
    settings.CAPTURE_THROTTLE_RATES = {**settings.CAPTURE_THROTTLE_RATES, "optin_ip": "5/hour"}
    yield
    cache.clear()


def test_a_hosted_form_posted_over_and_over_from_one_address_gets_429(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    answers = []
    for n in range(8):
        data = {**optin_form(client, funnel), "email": f"victim{n}@example.com"}
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(client.post(url(funnel, "optin"), data))
    assert [a.status_code for a in answers[:5]] == [302] * 5
    assert [a.status_code for a in answers[5:]] == [429] * 3
    assert "Too many sign-ups from here just now" in answers[-1].content.decode()
    assert int(answers[-1]["Retry-After"]) > 0
    assert Lead.objects.count() == 5
    assert len(mail.outbox) == 5


def test_the_api_counts_sign_ups_per_address_too(client, live_funnel):
    funnel, _ = live_funnel
    codes = [
        post(client, "/api/v1/optins", optin_body(funnel, id=f"s{n}", email=f"p{n}@example.com")).status_code
        for n in range(7)
    ]
    assert codes == [201] * 5 + [429] * 2


def test_one_address_gets_at_most_the_daily_cap_of_lead_magnets(live_funnel, settings):
    funnel, steps = live_funnel
    settings.LEAD_MAGNET_DAILY_CAP = 2
    lead = LeadFactory.create(email="often@example.com")
    for index, step_id in enumerate((steps["optin"].pk, *range(10_000, 10_003))):
        # The same lead magnet offered on several steps (as several funnels would): one send each.
        if index:
            clone = steps["optin"]
            clone.pk = None
            clone.slug = f"optin-{index}"
            clone.position = 100 + index
            clone.save()
            step_id = clone.pk
        lead_magnet_email(lead_id=lead.pk, step_id=step_id)
    assert len(mail.outbox) == 2
    assert Event.objects.filter(lead=lead, name="lead_magnet_withheld").count() == 2
    # Withheld ones are recorded under the sent key, which is what the sweep looks for: none is mailed later.
    keys = Event.objects.filter(lead=lead, name="lead_magnet_withheld").values_list("idempotency_key", flat=True)
    assert all(key.startswith(f"lead-magnet-sent:{lead.pk}:") for key in keys)
