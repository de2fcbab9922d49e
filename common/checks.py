"""Deployment checks (``manage.py check --deploy``): a production install that would lose secrets, mail nothing or
answer for any host fails here, before it serves anyone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError

from common.fields import EncryptedTextField

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}  # noqa: S104 (names compared, nothing bound)


@register(Tags.security, deploy=True)
def production_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    keys = settings.FIELD_ENCRYPTION_KEY
    good_keys = []
    for index, key in enumerate(keys):
        try:
            good_keys.append(Fernet(key))
        except (ValueError, TypeError):
            problems.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY entry {index + 1} is not a Fernet key.",
                    hint="Make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="common.E001",
                )
            )
    if not keys:
        problems.append(Error("FIELD_ENCRYPTION_KEY is not set.", id="common.E001"))
    elif len(good_keys) == len(keys):
        problems.extend(_stored_secrets_readable())
    if settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
        problems.append(
            Error(
                "EMAIL_BACKEND is the console backend: lead magnets and notices would be printed, never sent.",
                hint="Set EMAIL_BACKEND (and EMAIL_HOST...) to your mail service.",
                id="common.E002",
            )
        )
    host = (urlsplit(settings.PUBLIC_BASE_URL).hostname or "").lower()
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        problems.append(
            Error(
                f"PUBLIC_BASE_URL ({settings.PUBLIC_BASE_URL or 'unset'}) is not a public address: e-mailed links "
                "would point at this machine.",
                hint="Set PUBLIC_BASE_URL to the https:// address people reach Ladder at.",
                id="common.E003",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        problems.append(
            Error(
                "ALLOWED_HOSTS contains '*': any Host header is trusted (password-reset and e-mailed links).",
                hint="List the host names Ladder is served under.",
                id="common.E004",
            )
        )
    return problems


def _stored_secrets_readable() -> list[CheckMessage]:
    """Every encrypted column's first stored value decrypts with the configured keys."""
    problems: list[CheckMessage] = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            try:
                sample = model._default_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True).first()
            except DatabaseError:
                return []  # no database yet (before migrate): nothing stored to check
            except Exception as error:  # noqa: BLE001 (the field raises ImproperlyConfigured for a wrong key)
                problems.append(
                    Error(
                        f"{model._meta.label}.{field.name} holds a secret the configured keys cannot decrypt "
                        f"({type(error).__name__}).",
                        hint="Put the key it was written with back in FIELD_ENCRYPTION_KEY (old keys may follow "
                        "the new one).",
                        id="common.E005",
                    )
                )
                continue
            del sample
    return problems
