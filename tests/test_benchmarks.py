"""Every benchmark runs here at a tiny scale, on a fresh database, so one that no longer runs (a column the models
gained, a renamed function) fails the suite instead of rotting until someone runs ``make bench``. This checks that
the code path runs and prints its figures as JSON; it never judges a timing (at this scale timings mean nothing)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
FIGURE_KEYS = {"name", "measured", "baseline", "ratio", "target", "passed"}

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def fresh_database(name: str) -> str:
    """An empty database on the suite's PostgreSQL server, and its URL."""
    server = settings.DATABASES["default"]
    host, port, user = server["HOST"] or "127.0.0.1", server["PORT"] or 5432, server["USER"] or "postgres"
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://{user}@{host}:{port}/{name}"


BENCHMARKS = {
    "audiences": (["--leads", "1500", "--events-per-lead", "3"], "BENCH_AUDIENCES_DATABASE_URL", {}),
    "capture": (
        [],
        "BENCH_DATABASE_URL",
        {"BENCH_SECONDS": "0.5", "BENCH_ROUNDS": "1", "BENCH_CLIENTS": "2", "BENCH_WORKERS": "1"},
    ),
    "clv": (["--customers", "2000"], "", {}),
    "latency": (
        ["--rate", "20", "--seconds", "6"],
        "BENCH_DATABASE_URL",
        # A short window, and a Redis database of its own: the benchmark empties it first.
        {"AUDIENCE_PUSH_SECONDS": "3", "BENCH_REDIS_URL": "redis://127.0.0.1:6379/9"},
    ),
    "pipeline": (["--leads", "3000", "--csv-leads", "500"], "BENCH_PIPELINE_DATABASE_URL", {}),
    "reports": (["--visitors", "1500", "--orders", "600", "--live-events", "300"], "BENCH_REPORTS_DATABASE_URL", {}),
    "sync": (["--members", "1500", "--delta-adds", "50", "--delta-removes", "10"], "BENCH_SYNC_DATABASE_URL", {}),
}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_the_benchmark_runs_and_prints_its_figures(name, tmp_path):
    arguments, database_variable, extra = BENCHMARKS[name]
    env = {**os.environ, **extra}
    if database_variable:
        env[database_variable] = fresh_database(f"ladder_smoke_{name}")
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    figures = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            figure = json.loads(line)
            if "name" in figure:
                figures.append(figure)
    assert figures, f"bench.{name} printed no figure (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    for figure in figures:
        assert FIGURE_KEYS <= set(figure), figure
        assert isinstance(figure["passed"], bool)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # A benchmark exits non-zero only when a figure misses its target, which at this scale says nothing.
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
