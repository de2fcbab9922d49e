"""Celery entry points for reports: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from analytics import services, value


@shared_task(name="analytics.rollups_advance", acks_late=True, ignore_result=True)
def rollups_advance() -> int:
    """Fold the event log's new rows into the rollups (beat runs it every few seconds; one batch holds the cursor's
    lock, so overlapping runs wait and fold nothing twice). Returns the events folded."""
    return services.rollups_catch_up()


@shared_task(name="analytics.clv_refresh", acks_late=True, ignore_result=True)
def clv_refresh() -> int:
    """The nightly lifetime-value fit and scoring of every currency (beat, daily). Re-running replaces the scores."""
    return len(value.clv_refresh())
