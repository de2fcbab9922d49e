"""`check --deploy` fails a production install that would lose secrets, mail nothing or trust any host; the demo
refuses to seed production; load balancers reach /healthz over plain HTTP; every page has a Permissions-Policy."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def production(tmp_path, **overrides):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "s" * 60 + "production-shaped",
        "FIELD_ENCRYPTION_KEY": KEY_A,
        "ALLOWED_HOSTS": "ladder.example.com",
        "PUBLIC_BASE_URL": "https://ladder.example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    env.update(overrides)
    return env


def check(env):
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_production_shaped_install_passes(tmp_path):
    code, output = check(production(tmp_path))
    assert code == 0, output


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "common.E001"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "common.E002"),
        ({"PUBLIC_BASE_URL": "http://localhost:8000"}, "common.E003"),
        ({"ALLOWED_HOSTS": "*"}, "common.E004"),
    ],
)
def test_each_unsafe_setting_fails_the_deploy_check(tmp_path, overrides, check_id):
    code, output = check(production(tmp_path, **overrides))
    assert code != 0
    assert check_id in output


def test_a_stored_secret_the_keys_cannot_read_fails_the_deploy_check(tmp_path):
    env = production(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    store = (
        "from audiences.models import Audience, Connection; "
        "Connection.objects.create(name='W', platform='webhook', endpoint_url='https://x.example', "
        "credentials='s' * 32)"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", store], cwd=ROOT, env=env, check=True, timeout=120)
    assert check(env)[0] == 0
    code, output = check(production(tmp_path, FIELD_ENCRYPTION_KEY=KEY_B))
    assert code != 0
    assert "common.E005" in output
    assert "audiences.Connection.credentials" in output
    assert check(production(tmp_path, FIELD_ENCRYPTION_KEY=f"{KEY_B},{KEY_A}"))[0] == 0  # rotation: old key kept


@pytest.mark.django_db
def test_the_demo_refuses_production_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="add --force"):
        call_command("demo_seed", stdout=StringIO())


def test_healthz_answers_plain_http_and_pages_carry_a_permissions_policy(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    health = client.get("/healthz")
    assert health.status_code == 200
    assert "camera=()" in health["Permissions-Policy"]
    assert client.get("/admin/login/").status_code == 301  # everything else goes to https
