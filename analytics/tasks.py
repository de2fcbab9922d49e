"""Celery entry points for reports: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from analytics import services


@shared_task(name="analytics.rollups_advance", acks_late=True, ignore_result=True)
def rollups_advance() -> int:
    """Fold the event log's new rows into the rollups (beat runs it every few seconds; one batch holds the cursor's
    lock, so overlapping runs wait and fold nothing twice). Returns the events folded."""
    return services.rollups_catch_up()
