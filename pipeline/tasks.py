"""Celery entry points for the pipeline: thin, idempotent."""

from __future__ import annotations

import smtplib

from celery import shared_task

from leads import scoring
from pipeline import hooks as lead_hooks
from pipeline import services
from pipeline.digest import digests_send


@shared_task(name="pipeline.advance", acks_late=True, ignore_result=True)
def advance() -> int:
    """Beat, every ten seconds: new events scored, leads' last activity and automatic stage moves (one batch holds
    the cursor's lock, so overlapping runs wait and apply nothing twice). Returns the events read."""
    return services.pipeline_catch_up()


@shared_task(name="pipeline.inactivity", acks_late=True, ignore_result=True)
def inactivity() -> int:
    """Beat, hourly: points for leads that went quiet (once per quiet spell)."""
    return services.scores_inactivity()


@shared_task(name="pipeline.scores_rebuild", acks_late=True, ignore_result=True)
def scores_rebuild() -> int:
    """Queued from the admin after a rule changed: every rule's entries recomputed (``scores_rebuild``)."""
    return services.scores_rebuild()


@shared_task(name="pipeline.scores_reweigh", acks_late=True, ignore_result=True)
def scores_reweigh(half_life: int | None) -> int:
    """Queued when the half-life changes: every entry re-weighed and every lead re-summed."""
    return scoring.scores_reweigh(half_life=half_life)


@shared_task(
    name="pipeline.digest",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=6,
)
def digest() -> int:
    """Beat, daily: each owner's digest, once a day (a retry sends only those not sent yet)."""
    return digests_send()


@shared_task(name="pipeline.hooks", acks_late=True, ignore_result=True)
def hooks() -> int:
    """Beat, every ten seconds: stage changes and hot leads written as webhook deliveries, then what is due sent
    (``pipeline.hooks``). Returns how many were taken."""
    return lead_hooks.hooks_run()
