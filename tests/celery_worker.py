"""A real Celery worker process for integration tests: the Redis broker, this test's PostgreSQL database.

Each xdist worker gets its own broker database (13 − N), so two tests' Celery workers never take each other's
tasks. The worker runs in a session of its own, so a test can kill it, children and all, with ``kill -9``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "")
BROKER = os.environ.get(
    "TEST_CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{13 - (int(_XDIST[2:]) if _XDIST.startswith('gw') else 0)}"
)


def worker_start(settings: Any, *, loglevel: str = "warning", **environment: str) -> subprocess.Popen[bytes]:
    """A worker (prefork, one process) for this database; ``environment`` adds to or overrides its variables."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": BROKER,
        **environment,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", loglevel, "-P", "prefork", "-c", "1"]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def worker_stop(worker: subprocess.Popen[bytes]) -> str:
    """A warm shutdown (the main process lets its child finish); its output must hold no traceback. Returns it."""
    worker.terminate()
    output, _ = worker.communicate(timeout=90)  # the task in flight finishes first
    assert b"Traceback" not in output, output.decode()[-3000:]  # noqa: S101 (a test helper)
    return output.decode()


def worker_kill(worker: subprocess.Popen[bytes]) -> None:
    """``kill -9`` the worker and its children at once, as a crash or the OOM killer would."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)


@contextmanager
def publishing_to(broker: str = BROKER) -> Iterator[None]:
    """This process's app queues to ``broker`` instead of running tasks in-process, with fresh connection pools
    (Celery builds them on first use); as it was afterwards."""
    from config.celery import app

    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager, app.conf.broker_url = False, broker
    _pools_forget(app)
    try:
        yield
    finally:
        for pool in (getattr(app, "_pool", None), getattr(app.amqp, "_producer_pool", None)):
            if pool is not None:
                pool.force_close_all()
        app.conf.task_always_eager, app.conf.broker_url = saved
        _pools_forget(app)  # the next use builds pools for the broker configured


def _pools_forget(app: Celery) -> None:
    setattr(app, "_pool", None)  # noqa: B010 (Celery's private caches, built again on first use)
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010


def client() -> Celery:
    """Not the current app: the rest of the suite keeps running tasks in-process."""
    return Celery(broker=BROKER, set_as_current=False)


def wait_for(condition: Any, seconds: float = 120.0) -> bool:
    """Poll ``condition`` every 0.2 s until it holds (True) or ``seconds`` pass (False): what a worker did shows up
    in the database when it shows up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
