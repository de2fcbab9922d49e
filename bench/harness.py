"""Shared pieces of the HTTP benchmarks: a PostgreSQL database, a gunicorn server and a load generator.

The load comes from separate processes on this same machine (it competes with the server for the two
cores, as every load generator here does), so each figure is reported as a ratio to a baseline measured
in the same run, the same way.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def server_env() -> dict[str, str]:
    """The production shape: DEBUG off, PostgreSQL, Redis cache and broker, secrets set."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY="bench-" + "k" * 60,
        FIELD_ENCRYPTION_KEY="mJf2q5n8m3xQ0G7s9wS0a1b2c3d4e5f6g7h8i9j0k1Y=",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=BENCH_DB,
        REDIS_URL=BENCH_REDIS,
        CELERY_BROKER_URL=BENCH_REDIS,
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="WARNING",
        THROTTLE_CAPTURE_IP="100000000/minute",
        THROTTLE_CAPTURE_EMAIL="1000/minute",
        THROTTLE_OPTIN_IP="100000000/minute",  # the load comes from one address
        EVENT_INBOX="true",
    )
    return env


def manage(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=server_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def ensure_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin_url = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")  # the production shape serves collected files
    # Autovacuum is off on these machines; analyze as it would, so plans match a production database.
    with psycopg.connect(BENCH_DB, autocommit=True) as conn:
        conn.execute("ANALYZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(workers: int = 4) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        cwd=ROOT,
        env=server_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not start")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@contextmanager
def inbox_flusher(*, interval: float = 0.5) -> Iterator[None]:
    """The capture inbox's flusher, running beside the server for the whole load as it would in production."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "capture_inbox_flush", "--follow", "--interval", str(interval)],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def wait_for_empty_inbox(timeout: float = 120.0) -> float:
    """Wait until the flusher has written every queued beacon and opt-in; returns how long that took."""
    import redis

    keys = manage(
        "shell",
        "-c",
        "from django.core.cache import cache; from leads.inbox import INBOX_KEY, OPTIN_INBOX_KEY; "
        "print(cache.make_key(INBOX_KEY), cache.make_key(OPTIN_INBOX_KEY))",
    ).split()[-2:]
    conn = redis.Redis.from_url(BENCH_REDIS)
    started = time.monotonic()
    while any(conn.llen(key) for key in keys) and time.monotonic() - started < timeout:
        time.sleep(0.1)
    return time.monotonic() - started


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    p50_ms: float
    p99_ms: float
    payloads_ok: list[str]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


RequestFactory = Callable[[int, int], tuple[str, str, bytes | None, dict[str, str]]]


def send(port: int, method: str, path: str, body: bytes | str | None, headers: dict[str, str]) -> int:
    """One request on a fresh connection to the local server, its body read; its status, or 0 when the connection
    failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _client(port: int, make: RequestFactory, worker: int, seconds: float, queue: mp.Queue) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ok: list[str] = []
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        method, path, body, headers = make(worker, n)
        started = time.perf_counter()
        status = send(port, method, path, body, headers)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        if 200 <= status < 300:
            ok.append(f"{worker}:{n}")
        n += 1
    queue.put((latencies, statuses, ok))


def load(port: int, make: RequestFactory, *, clients: int = 8, seconds: float = 10.0) -> LoadResult:
    """``clients`` processes, each sending one request at a time for ``seconds``."""
    queue: mp.Queue = mp.Queue()
    started = time.monotonic()
    procs = [mp.Process(target=_client, args=(port, make, i, seconds, queue)) for i in range(clients)]
    for p in procs:
        p.start()
    parts = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for part in parts for x in part[0])
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part[1].items():
            statuses[status] = statuses.get(status, 0) + count
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        statuses=statuses,
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * latencies[int(len(latencies) * 0.99) - 1],
        payloads_ok=[key for part in parts for key in part[2]],
    )


def report(results: list[dict[str, object]], name: str) -> None:
    """Write the results where `make bench` collects them and print each as one JSON line, the last line last."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, sort_keys=True) for r in results]
    (RESULTS / f"{name}.json").write_text("\n".join(lines) + "\n")
    for line in lines:
        print(line, flush=True)
