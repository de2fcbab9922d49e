"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), keyed by FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from common.money import CURRENCY_CHOICES

_PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        # Only reachable with DEBUG on (settings refuse to start otherwise): derive a stable development key.
        keys = (base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode(),)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must hold url-safe base64 Fernet keys of 32 bytes.") from exc


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.FIELD_ENCRYPTION_KEY), settings.SECRET_KEY)


class EncryptedTextField(models.TextField):
    """Stores ``fernet:<token>``; reads back plaintext. Empty values are stored empty, not encrypted."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return _PREFIX + cipher().encrypt(str(value).encode()).decode()

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or not value.startswith(_PREFIX):
            return value
        try:
            return cipher().decrypt(value[len(_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY does not hold the key it was written with."
            ) from exc


class URLField(models.URLField):
    """A URL field whose form assumes https:// when a person types an address without a scheme."""

    def formfield(self, form_class: Any = None, choices_form_class: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("assume_scheme", "https")
        if form_class is not None:  # None would replace URLField's own default form class
            kwargs["form_class"] = form_class
        if choices_form_class is not None:
            kwargs["choices_form_class"] = choices_form_class
        return super().formfield(**kwargs)


class CurrencyField(models.CharField):
    """An ISO 4217 code, one of ``common.money``'s currencies (the admin offers them as a list).

    The list is the field's own, not its arguments: migrations record ``CurrencyField()`` alone, so adding a currency
    to ``common.money`` needs no migration and the 180 codes are not copied into every migration that touches one.
    """

    description = "ISO 4217 currency code"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_length"] = 3
        kwargs["choices"] = CURRENCY_CHOICES
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        kwargs.pop("choices", None)
        return name, path, args, kwargs
