"""How each destination's syncs are doing, for the admin: a state, a sentence, the last success and the next run.
A paused or waiting connection holds back every destination on it, and says so on each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from audiences.models import Destination, SyncRun

# Worst first: an audience's badge shows its worst destination.
STATES = ("paused", "failing", "waiting", "never", "ok", "off")
COLOURS = {
    "paused": "#b91c1c",
    "failing": "#b91c1c",
    "waiting": "#b45309",
    "never": "#6b7280",
    "ok": "#15803d",
    "off": "#6b7280",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Health:
    state: str
    text: str
    last_success: SyncRun | None
    next_run: dt.datetime | None


def destination_health(destination: Destination, *, now: dt.datetime | None = None) -> Health:
    now = now or timezone.now()
    connection = destination.connection
    runs = destination.runs.filter(dry_run=False)
    last = runs.first()
    success = runs.filter(status=SyncRun.Status.SUCCEEDED).first()
    waiting = connection.wait_until is not None and connection.wait_until > now
    next_run = None
    if destination.is_active and connection.is_active and not connection.paused_reason:
        # when the connection's wait ends, at once after a failure, else when the schedule comes round
        due = connection.wait_until if waiting else now
        if not waiting and not connection.failures and destination.last_synced_at is not None:
            due = destination.last_synced_at + dt.timedelta(minutes=destination.schedule_minutes)
        next_run = max(due or now, now)
    if connection.paused_reason:
        state, text = "paused", f"Paused: {connection.paused_reason}"
    elif not destination.is_active and last is not None and last.status == SyncRun.Status.FAILED:
        state, text = "paused", f"Paused: {last.error}"  # the platform blocked the audience: switched off for it
    elif not destination.is_active:
        state, text = "off", "Switched off; never synced." if last is None else "Switched off."
    elif not connection.is_active:
        state, text = "off", f"Its connection {connection.name!r} is switched off."
    elif last is None:
        state, text = "never", "Not synced yet."
    elif last.status == SyncRun.Status.FAILED and waiting:
        state, text = "waiting", f"Waiting until {timezone.localtime(connection.wait_until):%H:%M}: {last.error}"
    elif last.status == SyncRun.Status.FAILED:
        state, text = "failing", f"Failed: {last.error}"
    else:
        state = "ok"
        text = f"OK at {run_summary(last)}"
    return Health(state=state, text=text, last_success=success, next_run=next_run)


def run_summary(run: SyncRun) -> str:
    return f"{run.started_at:%Y-%m-%d %H:%M}: {run.sent} sent, {run.accepted} accepted, {run.invalid} invalid"


def worst(states: list[str]) -> str | None:
    return min(states, key=STATES.index) if states else None
