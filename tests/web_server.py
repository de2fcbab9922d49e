"""Ladder served by gunicorn, as in production, for integration tests: this test's PostgreSQL database (or a proxy
in front of it), Redis, production settings over plain HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.db import connection

from tests.celery_worker import ROOT, wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_start(
    settings: Any, *, database_port: int, log: Path, **environment: str
) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn (two workers of four threads, persistent database connections) writing its output to ``log`` (a
    pipe nobody reads would fill and stall it); returns it and its base URL."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{database_port}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": settings.REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **environment,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4"]
    with log.open("wb") as output:
        server = subprocess.Popen([*command, "--timeout", "60"], cwd=ROOT, env=env, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 (loopback)
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    if not wait_for(answers, seconds=60):
        server.kill()
        server.wait()
        raise RuntimeError(log.read_text()[-3000:])
    return server, base


def server_stop(server: subprocess.Popen[bytes], log: Path) -> str:
    """Stop it; returns what it wrote."""
    server.terminate()
    server.wait(timeout=30)
    return log.read_text()
