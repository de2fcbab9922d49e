"""The SQLite demo takes concurrent opt-ins: writers wait for each other instead of failing "database is locked"."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import threading
from django.db import connection
from leads.services import lead_capture
from leads.models import Lead

errors = []

def capture(worker):
    try:
        for n in range(25):
            lead_capture(email=f"w{worker}-{n}@example.com", first_name="Ada", idempotency_key=f"optin:{worker}:{n}",
                         source="concurrency test")
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

threads = [threading.Thread(target=capture, args=(w,)) for w in range(8)]
for t in threads: t.start()
for t in threads: t.join()
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
print("RESULT", Lead.objects.count(), len(errors), mode, errors[:2])
"""


def test_concurrent_optins_on_sqlite_all_land(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    done = subprocess.run(
        [*manage, "shell", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    _, leads, errors, mode, *_ = line.split(" ", 4)
    assert (leads, errors, mode) == ("200", "0", "wal"), line
