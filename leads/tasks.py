"""Celery entry points for leads: list imports (thin, idempotent, safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from leads import imports


@shared_task(name="leads.import_run", acks_late=True, ignore_result=True)
def import_run(import_id: int) -> None:
    """Run a list import for up to five minutes, then hand the rest to a new task (each chunk is committed with the
    import's progress, so a worker killed halfway loses nothing and writes nothing twice)."""
    if not imports.import_run(import_id=import_id, max_seconds=300.0):
        import_run.delay(import_id=import_id)


@shared_task(name="leads.imports_tidy", acks_late=True, ignore_result=True)
def imports_tidy() -> int:
    """Hourly: lost imports queued again; uploads of imports finished a month ago deleted."""
    return imports.imports_tidy()
