import pytest
from django.core.exceptions import ValidationError

from leads.normalization import normalize_country, normalize_email, normalize_phone


def test_email_is_trimmed_and_lowercased():
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter an e-mail address."),
        ("not-an-email", "'not-an-email' is not a valid e-mail address."),
        ("a@b", "'a@b' is not a valid e-mail address."),
        ("x" * 250 + "@example.com", "at most 254 characters"),
    ],
)
def test_bad_email_is_refused_with_a_message(raw, message):
    with pytest.raises(ValidationError, match=message):
        normalize_email(raw)


def test_phone_becomes_e164_using_the_default_country():
    assert normalize_phone("(415) 555-2671", default_country="US") == "+14155552671"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("030 901820", default_country="DE") == "+4930901820"
    assert normalize_phone("  ") == ""


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("12", "US", "is not a valid phone number for its country"),
        ("hello", "US", "is not a phone number"),
        ("555 2671", "", "Include the country code"),
    ],
)
def test_bad_phone_is_refused_with_a_message(raw, country, message):
    with pytest.raises(ValidationError, match=message):
        normalize_phone(raw, default_country=country)


def test_country_code():
    assert normalize_country(" us ") == "US"
    assert normalize_country("") == ""
    with pytest.raises(ValidationError, match="not an ISO 3166-1 alpha-2"):
        normalize_country("USA")
    with pytest.raises(ValidationError, match="not an ISO 3166-1 alpha-2"):
        normalize_country("XX")
