"""An address that cannot be mailed is recorded as failed with the reason and never retried; one bad address never
holds back the other e-mails of its batch; a temporary failure is retried without sending anyone twice."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from funnels import selectors
from funnels.tasks import lead_magnet_emails
from leads.models import Event
from tests.factories import EventFactory, LeadFactory
from tests.fakes import mail as picky

pytestmark = pytest.mark.django_db


@pytest.fixture
def picky_mail(settings):
    settings.EMAIL_BACKEND = "tests.fakes.mail.PickyBackend"
    picky.BUSY["on"] = True
    yield
    picky.BUSY["on"] = True


def opted_in(email, step):
    lead = LeadFactory.create(email=email)
    EventFactory.create(lead=lead, type="optin", step_id=step.pk, funnel_id=step.funnel_id)
    return lead


def test_a_refused_address_is_failed_for_good_and_the_rest_of_its_batch_goes(live_funnel, picky_mail):
    _, steps = live_funnel
    step = steps["optin"]
    bad, good = opted_in("refused@example.com", step), opted_in("fine@example.com", step)
    lead_magnet_emails(owed=[[bad.pk, step.pk], [good.pk, step.pk]])  # no exception: nothing to retry
    assert [m.to for m in mail.outbox] == [["fine@example.com"]]
    failed = Event.objects.get(lead=bad, name="lead_magnet_failed")
    assert failed.properties == {"reason": "the mail server refused the address (SMTP 550)"}
    assert "refused@" not in str(failed.properties)
    assert selectors.lead_magnets_owed(since=timezone.now() - dt.timedelta(days=1)) == []  # the sweep leaves it
    lead_magnet_emails(owed=[[bad.pk, step.pk]])
    assert len(mail.outbox) == 1  # never tried again


def test_a_temporary_failure_is_retried_without_holding_back_or_repeating_the_others(live_funnel, picky_mail):
    _, steps = live_funnel
    step = steps["optin"]
    busy, good = opted_in("busy@example.com", step), opted_in("fine@example.com", step)
    with pytest.raises(Exception, match="Try again later"):  # the task retries with backoff
        lead_magnet_emails(owed=[[busy.pk, step.pk], [good.pk, step.pk]])
    assert [m.to for m in mail.outbox] == [["fine@example.com"]]  # sent although the first one failed
    assert not Event.objects.filter(lead=busy, name__in=["lead_magnet_failed", "lead_magnet_sent"]).exists()
    picky.BUSY["on"] = False
    lead_magnet_emails(owed=[[busy.pk, step.pk], [good.pk, step.pk]])  # the retry
    assert sorted(m.to[0] for m in mail.outbox) == ["busy@example.com", "fine@example.com"]
