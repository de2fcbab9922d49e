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
from collections.abc import Callable

import phonenumbers

from integrations.protocols import Person

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


def _letters(value: str) -> str:
    """Lower-case letters only (accents kept, composed), no punctuation, digits or whitespace."""
    return _NOT_LETTERS.sub("", unicodedata.normalize("NFC", value).lower())


# --- e-mail ----------------------------------------------------------------------------------------------


def email_normalized(value: str) -> str:
    """Without whitespace, lower-cased, if it looks like an address: one ``@`` with something before it, and a
    domain with a dot that is neither its first nor its last character."""
    text = "".join((value or "").split()).lower()
    local, _, domain = text.partition("@")
    return text if local and "." in domain[1:-1] and "@" not in domain else ""


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
    text = e164 or ""
    digits = text[1:]
    is_e164 = text[:1] == "+" and 7 <= len(digits) <= 15 and digits.isascii() and digits.isdigit() and digits[0] != "0"
    return digits if is_e164 else ""


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
    external_id: str = "",
) -> dict[str, str]:
    """Meta's multi-key schema (EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY, EXTERN_ID) → hashes; empty keys left out.
    ``external_id`` is Ladder's own id for the person, hashed as given (the Conversions API gets the same hash)."""
    return MetaHasher().hashes(
        Person(
            email=email,
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            city=city,
            region=region,
            postal_code=postal_code,
            country=country,
            phone_is_stored=phone_is_stored,
            external_id=external_id,
        )
    )


class MetaHasher:
    """``meta_hashes`` for many people in a row. Names, cities, states, postal codes and countries repeat from
    person to person, so each distinct value is normalized and hashed once and remembered (up to ``memo_limit``
    values of each kind, then that memory starts afresh); e-mails and phones are hashed every time."""

    def __init__(self, *, memo_limit: int = 100_000) -> None:
        self._memo_limit = memo_limit
        self._names: dict[str, str] = {}
        self._cities: dict[str, str] = {}
        self._countries: dict[str, str] = {}
        # States and postal codes read differently in the US (two-letter states, five-digit codes).
        self._states: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self._postal_codes: tuple[dict[str, str], dict[str, str]] = ({}, {})

    def hashes(self, person: Person) -> dict[str, str]:
        email, phone, country, external_id = person.email, person.phone, person.country, person.external_id
        first_name, last_name, city, region, postal_code = (
            person.first_name,
            person.last_name,
            person.city,
            person.region,
            person.postal_code,
        )
        phone_is_stored = person.phone_is_stored
        out: dict[str, str] = {}
        if hashed := sha256_hex(meta_email(email)):
            out["EMAIL"] = hashed
        if hashed := sha256_hex(meta_phone_stored(phone) if phone_is_stored else meta_phone(phone, country)):
            out["PHONE"] = hashed
        us = country == "US" or country.upper() == "US"
        for key, value, memo in (
            ("FN", first_name, self._names),
            ("LN", last_name, self._names),
            ("CT", city, self._cities),
            ("ST", region, self._states[us]),
            ("ZIP", postal_code, self._postal_codes[us]),
            ("COUNTRY", country, self._countries),
        ):
            if not value:
                continue
            remembered = memo.get(value)
            if remembered is None:
                remembered = sha256_hex(_META_SHARED[key](value, "US" if us else ""))
                if len(memo) >= self._memo_limit:
                    memo.clear()
                memo[value] = remembered
            if remembered:
                out[key] = remembered
        if external_id:
            out["EXTERN_ID"] = sha256_hex(external_id)
        return out


_META_SHARED: dict[str, Callable[[str, str], str]] = {
    "FN": lambda value, country: meta_name(value),
    "LN": lambda value, country: meta_name(value),
    "CT": lambda value, country: meta_city(value),
    "ST": meta_state,
    "ZIP": meta_postal_code,
    "COUNTRY": lambda value, country: country_code(value),
}


def google_identifiers(
    *,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    postal_code: str = "",
    country: str = "",
    phone_is_stored: bool = False,
) -> dict[str, str]:
    """Google's user identifiers: hashed e-mail, phone and names; region and postal code in clear.

    An address is only usable whole (both names, region and postal code), so it is left out otherwise.
    """
    if phone_is_stored:  # validated to E.164 at capture: checked for shape, not parsed again
        digits = meta_phone_stored(phone)
        e164 = f"+{digits}" if digits else ""
    else:
        e164 = google_phone(phone, country)
    out = {"email_address": sha256_hex(google_email(email)), "phone_number": sha256_hex(e164)}
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


class GoogleHasher:
    """``google_identifiers`` with the same call as ``MetaHasher.hashes`` (city and state are not Google keys)."""

    def hashes(self, person: Person) -> dict[str, str]:
        return google_identifiers(
            email=person.email,
            phone=person.phone,
            first_name=person.first_name,
            last_name=person.last_name,
            postal_code=person.postal_code,
            country=person.country,
            phone_is_stored=person.phone_is_stored,
        )
