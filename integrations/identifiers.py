"""Normalize and SHA-256 a person's identifiers exactly as each ad platform specifies.

Meta (Custom Audiences, Conversions API): e-mail trimmed and lower-cased; phone as digits only with the
country code and **no** ``+``; first and last name lower-cased without punctuation, accents kept; city, state,
postal code and country lower-cased without punctuation or spaces (US postal codes: the first five digits; US
states: the two-letter code; country: ISO 3166-1 alpha-2).

Google (Data Manager API): e-mail lower-cased with all whitespace removed, and for gmail.com and
googlemail.com only, the dots and any ``+suffix`` removed from the local part; phone in E.164 **with** ``+``;
names lower-cased without surrounding whitespace or prefixes and suffixes; region and postal code are sent
in clear, not hashed.

The same person therefore hashes differently for each platform. An empty or invalid value is never hashed:
the functions return ``""`` and the caller leaves that key out.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import phonenumbers

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_NAME_AFFIXES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"}
)
_US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca", "colorado": "co",
    "connecticut": "ct", "delaware": "de", "district of columbia": "dc", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "new hampshire": "nh", "new jersey": "nj", "new mexico": "nm", "new york": "ny", "north carolina": "nc",
    "north dakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhode island": "ri", "south carolina": "sc", "south dakota": "sd", "tennessee": "tn", "texas": "tx",
    "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa", "west virginia": "wv",
    "wisconsin": "wi", "wyoming": "wy", "puerto rico": "pr",
}  # fmt: skip


def sha256_hex(normalized: str) -> str:
    """The lowercase hex SHA-256 of a normalized value, or ``""`` for nothing (never the hash of "")."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest() if normalized else ""


_NOT_LETTERS = re.compile(r"[\W\d_]+")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _letters(value: str) -> str:
    """Lower-case letters only (accents kept, composed), no punctuation, digits or whitespace."""
    return _NOT_LETTERS.sub("", unicodedata.normalize("NFC", value).lower())


# --- e-mail ----------------------------------------------------------------------------------------------


def email_normalized(value: str) -> str:
    text = re.sub(r"\s+", "", value or "").lower()
    return text if _EMAIL.match(text) else ""


def meta_email(value: str) -> str:
    return email_normalized(value)


def google_email(value: str) -> str:
    text = email_normalized(value)
    if not text:
        return ""
    local, domain = text.rsplit("@", 1)
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return ""
    return f"{local}@{domain}"


# --- phone -----------------------------------------------------------------------------------------------


def phone_e164(value: str, default_country: str = "") -> str:
    """E.164 (``+14155550123``) for a valid number, reading numbers without ``+`` in ``default_country``."""
    text = (value or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, default_country.upper() or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def meta_phone(value: str, default_country: str = "") -> str:
    return phone_e164(value, default_country).lstrip("+")


def meta_phone_stored(e164: str) -> str:
    """A lead's phone as stored (validated to E.164 at capture, shape enforced by the database): no re-parse."""
    return e164[1:] if _E164.match(e164 or "") else ""


def google_phone(value: str, default_country: str = "") -> str:
    return phone_e164(value, default_country)


# --- names and places --------------------------------------------------------------------------------------


def meta_name(value: str) -> str:
    return _letters(value or "")


def google_name(value: str) -> str:
    words = [w for w in re.split(r"[\s,]+", (value or "").strip().lower()) if w]
    kept = [w for w in words if w.strip(".") not in _NAME_AFFIXES]
    return " ".join(kept)


def meta_city(value: str) -> str:
    return _letters(value or "")


def meta_state(value: str, country: str = "") -> str:
    text = (value or "").strip().lower()
    if country.upper() == "US":
        text = _US_STATES.get(" ".join(text.split()), text)
    return _letters(text)


def meta_postal_code(value: str, country: str = "") -> str:
    text = re.sub(r"[^0-9a-z]", "", (value or "").lower())
    if country.upper() == "US":
        digits = re.match(r"^\d{5}", text)
        return digits.group(0) if digits else ""
    return text


def country_code(value: str) -> str:
    text = (value or "").strip().lower()
    return text if re.fullmatch(r"[a-z]{2}", text) else ""


# --- per platform --------------------------------------------------------------------------------------------


def meta_hashes(
    *,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    city: str = "",
    region: str = "",
    postal_code: str = "",
    country: str = "",
    phone_is_stored: bool = False,
) -> dict[str, str]:
    """Meta's multi-key schema (EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY) → hashes; empty keys left out."""
    normalized = {
        "EMAIL": meta_email(email),
        "PHONE": meta_phone_stored(phone) if phone_is_stored else meta_phone(phone, country),
        "FN": meta_name(first_name),
        "LN": meta_name(last_name),
        "CT": meta_city(city),
        "ST": meta_state(region, country),
        "ZIP": meta_postal_code(postal_code, country),
        "COUNTRY": country_code(country),
    }
    return {key: sha256_hex(value) for key, value in normalized.items() if value}


def google_identifiers(
    *,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    postal_code: str = "",
    country: str = "",
) -> dict[str, str]:
    """Google's user identifiers: hashed e-mail, phone and names; region and postal code in clear.

    An address is only usable whole (both names, region and postal code), so it is left out otherwise.
    """
    out = {"email_address": sha256_hex(google_email(email)), "phone_number": sha256_hex(google_phone(phone, country))}
    given, family = google_name(first_name), google_name(last_name)
    region, postal = country_code(country).upper(), (postal_code or "").strip()
    if given and family and region and postal:
        out |= {
            "given_name": sha256_hex(given),
            "family_name": sha256_hex(family),
            "region_code": region,
            "postal_code": postal,
        }
    return {key: value for key, value in out.items() if value}
