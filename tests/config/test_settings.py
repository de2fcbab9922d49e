"""The settings read the environment and refuse an unsafe production configuration, in a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 10 + "production-secret-key-with-enough-entropy-0123456789-abcdefgh",
    "ALLOWED_HOSTS": "ladder.example.com",
    "PUBLIC_BASE_URL": "https://ladder.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def manage(*args, tmp_path, **env):
    dropped = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_production_configuration_passes_the_deploy_check(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "Ladder is not configured: SECRET_KEY must be set when DEBUG is off"),
        ("FIELD_ENCRYPTION_KEY", "Ladder is not configured: FIELD_ENCRYPTION_KEY must be set when DEBUG is off"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(tmp_path, missing, message):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    env.pop(missing)
    result = manage("check", tmp_path=tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line that says what to set, no traceback
    assert lines[0].startswith(message)


def test_debug_generates_and_keeps_a_development_key(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage("shell", "-c", code, tmp_path=tmp_path, DEBUG="true")
    second = manage("shell", "-c", code, tmp_path=tmp_path, DEBUG="true")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50
    assert second.stdout.strip().splitlines()[-1] == key


def test_tasks_run_in_process_without_a_broker_and_on_the_broker_when_set(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(settings.CELERY_TASK_ALWAYS_EAGER, settings.CACHES['default']['BACKEND'])"
    )
    eager = manage("shell", "-c", code, tmp_path=tmp_path, DEBUG="true", CELERY_BROKER_URL="", REDIS_URL="")
    broker = manage(
        "shell",
        "-c",
        code,
        tmp_path=tmp_path,
        DEBUG="true",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/2",
        REDIS_URL="redis://127.0.0.1:6379/1",
    )
    assert eager.stdout.split()[-2:] == ["True", "django.core.cache.backends.locmem.LocMemCache"]
    assert broker.stdout.split()[-2:] == ["False", "django_redis.cache.RedisCache"]
