"""How Ladder normalizes what people type, before it is stored or compared.

Platform-specific normalization for hashing (Meta, Google) lives in ``integrations.identifiers``; this module
only decides what makes two leads the same person in our own database.
"""

from __future__ import annotations

import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

EMAIL_MAX_LENGTH = 254
# Unicode categories no address may hold: controls, format characters (zero-width, bidi), surrogates, private use,
# unassigned, and line and paragraph separators.
INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalize_email(raw: str) -> str:
    """One form per mailbox: trimmed, NFC-normalized and lower-cased, with an internationalized domain stored in its
    Unicode form (``bücher.example``, never ``xn--bcher-kva.example``). Raises ValidationError with a message for a
    person when it is not an address, including invisible or control characters (zero-width spaces, bidi marks, line
    separators, lone surrogates) and a domain that cannot be encoded for DNS."""
    email = unicodedata.normalize("NFC", (raw or "").strip()).lower()
    if not email:
        raise ValidationError("Enter an e-mail address.", code="required")
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationError(f"An e-mail address has at most {EMAIL_MAX_LENGTH} characters.", code="max_length")
    shown = raw.strip().encode("utf-8", "backslashreplace").decode("utf-8")
    if any(unicodedata.category(character) in INVISIBLE for character in email):
        raise ValidationError(
            f"{shown!r} holds an invisible or control character; type the address again.", code="invalid"
        )
    local, _, domain = email.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        domain = ascii_domain.encode("ascii").decode("idna")  # A-labels back to Unicode: one form for both
    except UnicodeError:
        raise ValidationError(f"{shown!r} is not a valid e-mail address (its domain).", code="invalid") from None
    email = f"{local}@{domain}"
    try:
        validate_email(email)
        validate_email(f"{local}@{ascii_domain}")
    except ValidationError:
        raise ValidationError(f"{shown!r} is not a valid e-mail address.", code="invalid") from None
    return email


def normalize_phone(raw: str, *, default_country: str = "") -> str:
    """E.164 (``+14155550123``) or ``""`` for an empty input; numbers without ``+`` use ``default_country``."""
    text = (raw or "").strip()
    if not text:
        return ""
    region = default_country.upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        hint = "" if region else " Include the country code, e.g. +44 20 7946 0958."
        raise ValidationError(f"{text!r} is not a phone number.{hint}", code="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{text!r} is not a valid phone number for its country.", code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_country(raw: str) -> str:
    code = (raw or "").strip().upper()
    if code and (len(code) != 2 or not code.isalpha() or code not in phonenumbers.SUPPORTED_REGIONS):
        raise ValidationError(f"{raw!r} is not an ISO 3166-1 alpha-2 country code (for example US, DE).")
    return code


def normalize_tag(raw: str) -> str:
    tag = " ".join((raw or "").split()).lower()
    if not tag or len(tag) > 50:
        raise ValidationError("A tag has 1 to 50 characters.")
    return tag
