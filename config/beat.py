"""What Celery beat runs, and how often (seconds)."""

from __future__ import annotations

from typing import Any


def beat_schedule(*, marked_seconds: float) -> dict[str, dict[str, Any]]:
    """The periodic tasks; ``marked_seconds`` is how often changed leads' audiences are refreshed."""

    def every(task: str, seconds: float) -> dict[str, Any]:
        return {"task": task, "schedule": seconds}

    return {
        # Capture: queued beacons and opt-ins stored; lead magnets whose mail was not sent sent again.
        "capture-inbox-flush": every("funnels.capture_inbox_flush", 1.0),
        "lead-magnet-sweep": every("funnels.lead_magnet_sweep", 60.0),
        "stripe-events-sweep": every("offers.stripe_events_sweep", 60.0),
        "refund-requests-sweep": every("offers.refund_requests_sweep", 60.0),
        # Changed leads' audiences every second or so; whole audiences and due syncs each minute.
        "audiences-refresh-marked": every("audiences.refresh_marked", marked_seconds),
        "audiences-refresh-due": every("audiences.refresh_due", 60.0),
        "audiences-sync-due": every("audiences.sync_due", 60.0),
        # Each switched-on connection's credentials with its platform, daily: an expired token pauses it, saying why,
        # and a paused one whose credentials work again resumes.
        "audiences-credentials-check": every("audiences.credentials_check", 86400.0),
        "conversions-dispatch": every("audiences.conversions_dispatch", 10.0),
        "audiences-requests-check": every("audiences.requests_check", 600.0),
        # Weekly, each Meta audience replaced with exactly what Ladder's ledger says it holds: drift does not last.
        "audiences-reconcile": every("audiences.reconcile", 7 * 86400.0),
        # Lost list imports queued again; uploads deleted a month after their import finished.
        "imports-tidy": every("leads.imports_tidy", 3600.0),
        # Nightly (every 24 h from start): each ad account's last 28 days of campaign spend read again.
        "spend-import-recent": every("spend.import_recent", 86400.0),
        # The pipeline follows the event log (scores, last activity, automatic stage moves) and scores quiet leads
        # hourly; each owner's digest once a day whatever the schedule (the hourly run sends what is not sent yet).
        "pipeline-advance": every("pipeline.advance", 10.0),
        "pipeline-inactivity": every("pipeline.inactivity", 3600.0),
        "pipeline-digest": every("pipeline.digest", 3600.0),
        # Lead webhooks: stage changes and hot leads, signed, retried with backoff.
        "pipeline-hooks": every("pipeline.hooks", 10.0),
        # Buyers get what they paid for as soon as the webhook records the payment; a full refund takes it back.
        "fulfilment-advance": every("fulfilment.advance", 10.0),
        "fulfilment-emails": every("fulfilment.emails_send", 10.0),
        # Reports: the rollups follow the event log every few seconds; lifetime value is fitted nightly.
        "analytics-rollups-advance": every("analytics.rollups_advance", 5.0),
        "analytics-clv-refresh": every("analytics.clv_refresh", 86400.0),
    }
