"""Services queue tasks by name: a process that never imported a task's module still finds it, and a name nobody
registered is a mistake that raises at once."""

import subprocess
import sys
from pathlib import Path

import pytest

from common.tasks import task_named

ROOT = Path(__file__).resolve().parents[2]


def test_a_process_that_imported_no_task_module_finds_every_task_by_name():
    script = (
        "import django; django.setup(); from celery import current_app; from common.tasks import task_named; "
        "print('funnels.lead_magnet_emails' in current_app.tasks, task_named('funnels.lead_magnet_emails').name)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.test_settings", "PATH": "/usr/bin:/bin", "SECRET_KEY": "x"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "funnels.lead_magnet_emails"]


def test_a_name_nobody_registered_raises():
    with pytest.raises(KeyError):
        task_named("audiences.no_such_task")
