"""Handing recorded work to Celery after the transaction that recorded it commits."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Any, *, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue ``task`` (a task, or its registered name) once the current transaction commits (to run ``countdown``
    seconds later, if given), without letting the queueing fail the caller. Services name their tasks, so no domain
    module imports its app's task module (the task modules import the services).

    The work is already recorded, and each kind has a sweep that queues what is left over, so a broker that is
    down (or, with tasks run in-process, a task that failed and will be retried) only delays it.
    """

    registered = task_named(task) if isinstance(task, str) else task
    name = registered.name

    def send() -> None:
        try:
            registered.apply_async(kwargs=kwargs, countdown=countdown)
        except Exception:  # recorded already: the sweep picks it up
            logger.warning("%s was not queued; its sweep will retry it.", name, exc_info=True)

    transaction.on_commit(send)


def task_named(name: str) -> Any:
    """The registered task of that name. A process that is not a worker (a web server, a management command) has
    imported only the task modules something imported: the rest are imported here once, as a worker does at start.
    An unknown name is a mistake in the code and raises KeyError."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]
