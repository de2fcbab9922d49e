"""A worker killed (SIGKILL) while it e-mails a lead magnet loses nothing: the e-mail was not recorded as sent, so the
sweep (beat, every few minutes) has another worker send it, once."""

import pytest

from leads.models import Event
from tests import celery_worker
from tests.factories import EventFactory, LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_send_is_made_good_by_the_sweep(settings, live_funnel, tmp_path):
    _, steps = live_funnel
    step = steps["optin"]
    lead = LeadFactory.create(email="ada@example.com")
    EventFactory.create(lead=lead, type="optin", step_id=step.pk, funnel_id=step.funnel_id)
    mail = {"EMAIL_BACKEND": "tests.fakes.mail.SlowFileBackend", "LADDER_TEST_MAIL_DIR": str(tmp_path)}
    app = celery_worker.client()

    first = celery_worker.worker_start(settings, LADDER_TEST_MAIL_DELAY="30", **mail)
    try:
        app.send_task("funnels.lead_magnet_email", kwargs={"lead_id": lead.pk, "step_id": step.pk})
        assert celery_worker.wait_for(lambda: list(tmp_path.glob("*.sending")))
    finally:
        celery_worker.worker_kill(first)  # mid-send
    assert not list(tmp_path.glob("*.sent"))
    assert not Event.objects.filter(lead=lead, name="lead_magnet_sent").exists()

    second = celery_worker.worker_start(settings, LADDER_TEST_MAIL_DELAY="0", **mail)
    try:
        app.send_task("funnels.lead_magnet_sweep")  # as beat does
        assert celery_worker.wait_for(lambda: Event.objects.filter(lead=lead, name="lead_magnet_sent").exists())
    finally:
        celery_worker.worker_stop(second)
    assert len(list(tmp_path.glob("*.sent"))) == 1  # sent once
    assert Event.objects.filter(lead=lead, name="lead_magnet_sent").count() == 1
