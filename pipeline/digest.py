"""The daily digest: each owner's overdue and due-today tasks and stale leads, e-mailed once a day."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from pipeline import selectors
from pipeline.models import DigestSent, PipelineSettings


def _body(name: str, day: dict[str, object], base: str) -> str:
    lines = [f"Good morning {name},", ""]
    for title, tasks in (("Overdue", day["overdue"]), ("Due today", day["today"])):
        lines.append(f"{title}: {len(tasks)}")  # type: ignore[arg-type]
        for task in tasks:  # type: ignore[attr-defined]
            who = task.lead.full_name or task.lead.email
            lines.append(f"  - {task.due_at:%Y-%m-%d %H:%M} {task.get_kind_display()}: {task.title} ({who})")
        lines.append("")
    lines.append(f"Stale leads: {day['stale_count']}")
    for lead in day["stale"][:20]:  # type: ignore[index]
        lines.append(f"  - {lead.full_name or lead.email} in {lead.stage}")
    lines += ["", f"Your day in Ladder: {base}{reverse('pipeline-my-day')}"]
    return "\n".join(lines)


SEND_FROM_HOUR = 7  # local time: the hourly run sends the day's digests from this hour on


def digests_send(*, now: dt.datetime | None = None) -> int:
    """Send today's digest to every active staff member with something in it (and an address), once each."""
    now = now or timezone.now()
    if timezone.localtime(now).hour < SEND_FROM_HOUR:
        return 0
    if not PipelineSettings.objects.get_or_create(pk=1)[0].daily_digest:
        return 0
    today = timezone.localdate(now)
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    sent = 0
    for user in get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk"):
        row, _ = DigestSent.objects.get_or_create(user=user, day=today)
        if row.sent_at is not None:
            continue
        day = selectors.my_day(user_id=user.pk, now=now, limit=50)
        if not (day["overdue"] or day["today"] or day["stale_count"]):
            DigestSent.objects.filter(pk=row.pk).update(sent_at=now)  # nothing to say today: done
            continue
        subject = f"Your day: {len(day['overdue'])} overdue, {len(day['today'])} due, {day['stale_count']} stale"
        name = user.get_full_name() or user.get_username()
        EmailMessage(subject, _body(name, day, base), settings.DEFAULT_FROM_EMAIL, [user.email]).send()
        DigestSent.objects.filter(pk=row.pk).update(sent_at=timezone.now())
        sent += 1
    return sent
