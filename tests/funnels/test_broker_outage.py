"""With the broker down, work that was committed is answered as done (2xx), never a 500; its sweep finds it when the
broker is back. The queueing gives up within seconds."""

import logging
import socket
import time

import pytest
from django.core import mail

from funnels import selectors
from leads.models import Lead
from tests import celery_worker
from tests.funnels.test_api import optin_body, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with celery_worker.publishing_to(f"redis://127.0.0.1:{port}/0"):
        yield


def test_an_optin_is_answered_stored_and_its_lead_magnet_is_owed(
    client, live_funnel, broker_down, caplog, django_capture_on_commit_callbacks
):
    funnel, steps = live_funnel
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/optins", optin_body(funnel))
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 15  # gave up on the broker quickly
    lead = Lead.objects.get()
    assert "funnels.lead_magnet_email was not queued; its sweep will retry it." in caplog.text
    assert len(mail.outbox) == 0
    # The sweep (run by beat once the broker is back) finds the e-mail still owed.
    assert (lead.pk, steps["optin"].pk) in selectors.lead_magnets_owed(since=lead.created_at.replace(year=2000))
