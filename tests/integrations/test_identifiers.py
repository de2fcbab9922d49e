"""Identifiers are normalized and hashed exactly as each platform's documentation shows."""

import hashlib
import re
import string

from hypothesis import given
from hypothesis import strategies as st

from integrations import identifiers as ids
from integrations.protocols import Person

HEX64 = set(string.hexdigits.lower())


def test_sha256_is_lowercase_hex_of_the_utf8_text():
    # printf '%s' test@example.com | sha256sum
    assert ids.sha256_hex("test@example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    assert ids.sha256_hex("") == ""


def test_googles_published_email_examples():
    # developers.google.com/data-manager/api/devguides/concepts/formatting
    assert ids.google_email("cloudy.sanfrancisco+shopping@gmail.com") == "cloudysanfrancisco@gmail.com"
    assert ids.google_email("user.name+NYC@Example.com") == "user.name+nyc@example.com"
    assert ids.google_email(" Jane.Doe@GoogleMail.com ") == "janedoe@googlemail.com"


def test_meta_keeps_dots_and_plus_in_gmail_addresses():
    assert ids.meta_email(" Cloudy.SanFrancisco+shopping@gmail.com\t") == "cloudy.sanfrancisco+shopping@gmail.com"


def test_phone_is_e164_with_plus_for_google_and_digits_only_for_meta():
    # Google's example: the US number (800)555-0100 is +18005550100.
    assert ids.google_phone("(800)555-0100", "US") == "+18005550100"
    assert ids.meta_phone("+1 (800) 555-0100") == "18005550100"
    assert ids.meta_phone("0151 23456789", "DE") == "4915123456789"  # national leading zero dropped
    assert ids.sha256_hex(ids.meta_phone("+18005550100")) != ids.sha256_hex(ids.google_phone("+18005550100"))


def test_names_and_places():
    assert ids.meta_name(" Valéry ") == "valéry"  # Meta accepts accents
    assert ids.meta_name("O'Brien-Smith") == "obriensmith"
    assert ids.meta_name("Jose\u0301") == "josé"  # composed, so one spelling hashes one way
    assert ids.google_name(" Dr. John Jr. ") == "john"
    assert ids.meta_city("Menlo Park") == "menlopark"
    assert ids.meta_state("California", "US") == "ca"
    assert ids.meta_state("CA", "US") == "ca"
    assert ids.meta_postal_code("94025-1234", "US") == "94025"
    assert ids.meta_postal_code("SW1A 1AA", "GB") == "sw1a1aa"
    assert ids.country_code(" US ") == "us"


def test_invalid_values_are_never_hashed():
    assert ids.meta_hashes(email="not an address", phone="12", country="USA") == {}
    assert ids.google_identifiers(email="@gmail.com", phone="+1", first_name="Ann") == {}
    assert ids.google_email("+tag@gmail.com") == ""


def test_each_platform_gets_its_own_keys():
    meta = ids.meta_hashes(email="Ann@Example.com", phone="+14155550123", first_name="Ann", country="US")
    assert set(meta) == {"EMAIL", "PHONE", "FN", "COUNTRY"}
    assert meta["PHONE"] == hashlib.sha256(b"14155550123").hexdigest()
    google = ids.google_identifiers(
        email="Ann@Example.com",
        phone="+14155550123",
        first_name="Ann",
        last_name="Lee",
        postal_code="94025",
        country="US",
    )
    assert google["phone_number"] == hashlib.sha256(b"+14155550123").hexdigest()
    assert (google["region_code"], google["postal_code"]) == ("US", "94025")  # sent in clear
    assert ids.google_identifiers(email="a@b.co", first_name="Ann").keys() == {"email_address"}  # no half address


emails = st.emails()
padding = st.text(alphabet=" \t\n", max_size=3)


@given(emails, padding, padding)
def test_email_hashes_ignore_case_and_surrounding_whitespace(email, before, after):
    for normalize in (ids.meta_email, ids.google_email):
        plain = ids.sha256_hex(normalize(email))
        assert ids.sha256_hex(normalize(before + email.upper() + after)) == plain
        assert normalize(normalize(email)) == normalize(email)  # idempotent
        assert plain == "" or (len(plain) == 64 and set(plain) <= HEX64)


@given(st.text(max_size=40))
def test_any_text_either_hashes_to_64_hex_or_is_left_out(text):
    for value in ids.meta_hashes(email=text, phone=text, first_name=text, city=text, country=text).values():
        assert len(value) == 64
        assert set(value) <= HEX64
    for key, value in ids.google_identifiers(email=text, phone=text).items():
        assert key in ("email_address", "phone_number")
        assert len(value) == 64


@given(st.text(max_size=30))
def test_name_normalization_is_idempotent(text):
    assert ids.meta_name(ids.meta_name(text)) == ids.meta_name(text)
    assert ids.google_name(ids.google_name(text)) == ids.google_name(text)


@given(st.sampled_from(["+14155550123", "+4915123456789", "+33612345678", "", "12345", "+0123"]))
def test_a_stored_phone_hashes_as_a_parsed_one(phone):
    stored = ids.meta_hashes(phone=phone, phone_is_stored=True).get("PHONE", "")
    parsed = ids.meta_hashes(phone=phone).get("PHONE", "")
    assert stored == parsed


_shared = st.sampled_from(["", "Ann", "ÉLODIE", "new york", "NY", "94025-1234", "SW1A 1AA", "us", "DE", " Lee "])
_person = st.fixed_dictionaries(
    {
        "email": st.sampled_from(["", "ann@example.com", " Bo@Example.org ", "nope"]),
        "phone": st.sampled_from(["", "+14155550123", "+4915123456789", "12"]),
        "first_name": _shared,
        "last_name": _shared,
        "city": _shared,
        "region": _shared,
        "postal_code": _shared,
        "country": st.sampled_from(["", "US", "DE", "us", "GB"]),
        "phone_is_stored": st.booleans(),
    }
)


@given(st.lists(_person, max_size=30), st.integers(min_value=0, max_value=5))
def test_hashing_many_people_in_a_row_gives_each_their_own_hashes(people, memo_limit):
    """The values remembered from one person never leak into the next one's hashes (a state is read per
    country, so "new york" hashes differently in the US), however small the memory."""
    hasher = ids.MetaHasher(memo_limit=memo_limit)
    for person in people:
        assert hasher.hashes(Person(**person)) == ids.meta_hashes(**person)


def test_a_state_name_is_remembered_per_country():
    hasher = ids.MetaHasher()
    us = hasher.hashes(Person(region="New York", country="US"))["ST"]
    elsewhere = hasher.hashes(Person(region="New York", country="GB"))["ST"]
    assert us == ids.sha256_hex("ny")
    assert elsewhere == ids.sha256_hex("newyork")


@given(st.text(alphabet="ab@. \t+1", max_size=12))
def test_an_address_is_one_at_sign_and_a_domain_with_an_inner_dot(text):
    squeezed = "".join(text.split()).lower()
    looks_like_one = re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", squeezed) is not None
    assert ids.email_normalized(text) == (squeezed if looks_like_one else "")


@given(st.text(alphabet="+0123456789٣\n ", max_size=18))
def test_a_stored_phone_is_used_only_in_e164_shape(text):
    e164 = re.fullmatch(r"\+[1-9][0-9]{6,14}", text) is not None
    assert ids.meta_phone_stored(text) == (text[1:] if e164 else "")


def test_meta_extern_id_is_ladders_id_hashed_as_the_conversions_api_gets_it():
    import hashlib

    lead_id = "0b3c8f0e-2f0a-4a8e-9a51-6f1f5c3f2d10"
    assert (
        ids.meta_hashes(email="ann@example.com", external_id=lead_id)["EXTERN_ID"]
        == hashlib.sha256(lead_id.encode()).hexdigest()
    )
    assert "EXTERN_ID" not in ids.meta_hashes(email="ann@example.com")
