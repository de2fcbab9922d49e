"""Handing recorded work to Celery after the transaction that recorded it commits."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Any, **kwargs: Any) -> None:
    """Queue ``task`` once the current transaction commits, without letting the queueing fail the caller.

    The work is already recorded, and each kind has a sweep that queues what is left over, so a broker that is
    down (or, with tasks run in-process, a task that failed and will be retried) only delays it.
    """

    def send() -> None:
        try:
            task.delay(**kwargs)
        except Exception:  # recorded already: the sweep picks it up
            logger.warning("%s was not queued; its sweep will retry it.", task.name, exc_info=True)

    transaction.on_commit(send)
