"""Who a captured person is, as stored: normalized details with every bad field named, and the e-mail's fingerprint."""

from __future__ import annotations

import hashlib

import phonenumbers
from django.core.exceptions import ValidationError

from common.errors import ApplicationError
from leads.contracts import (
    Identity,
)
from leads.normalization import normalize_email, normalize_phone

# Countries where GDPR-style rules apply (EEA, UK, Switzerland): ad-audience consent must be explicit.
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO GB CH".split()
)


NAME_MAX = 100


class CaptureInvalid(ApplicationError):
    """Field-level problems with a capture; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


def identity_normalize(
    *, email: str, phone: str = "", first_name: str = "", last_name: str = "", default_country: str = ""
) -> Identity:
    """The details as they are stored: raises CaptureInvalid, naming each field that is wrong, for bad input."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    try:
        cleaned["email"] = normalize_email(email)
    except ValidationError as error:
        errors["email"] = list(error.messages)
    try:
        cleaned["phone"] = normalize_phone(phone, default_country=default_country)
    except ValidationError as error:
        errors["phone"] = list(error.messages)
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        text = " ".join((value or "").split())
        if len(text) > NAME_MAX:
            errors[name] = [f"At most {NAME_MAX} characters."]
        cleaned[name] = text
    if errors:
        raise CaptureInvalid(errors)
    country = _country_of(cleaned["phone"], default_country) if cleaned["phone"] else default_country.upper()
    return Identity(**cleaned, country=country)


def lead_details(identity: Identity) -> dict[str, str]:
    return {
        "phone": identity.phone,
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "country": identity.country,
    }


def _country_of(phone_e164: str, fallback: str) -> str:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164))
    return region if region and region != "ZZ" else fallback.upper()


def email_fingerprint(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()
