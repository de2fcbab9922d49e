"""The daily digest: an owner with something due gets one e-mail a day, listing it; nobody else gets one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from leads.pipeline import task_add
from pipeline.digest import digests_send
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_one_digest_a_day_for_an_owner_with_something_due(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    morning = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0)
    busy = UserFactory.create(role="sales", email="busy@example.com")
    UserFactory.create(role="sales", email="idle@example.com")
    lead = LeadFactory.create(first_name="Ada", last_name="Lovelace", owner=busy)
    task_add(
        lead=lead,
        title="Call about the course",
        due_at=morning - dt.timedelta(days=1),
        kind="call",
        assignee_id=busy.pk,
        created_by_id=busy.pk,
    )
    assert digests_send(now=morning.replace(hour=6)) == 0  # too early
    assert digests_send(now=morning) == 1
    assert digests_send(now=morning + dt.timedelta(hours=1)) == 0
    (message,) = mail.outbox
    assert message.to == ["busy@example.com"]
    assert message.subject.startswith("Your day: 1 overdue")
    assert "Call about the course (Ada Lovelace)" in message.body
    assert "/admin/pipeline/my-day/" in message.body
    assert digests_send(now=morning + dt.timedelta(days=1)) == 1  # the next day, again
