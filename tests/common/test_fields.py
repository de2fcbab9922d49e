import pytest
from django.db import connection

from tests.factories import ConnectionFactory


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest_and_read_back_in_clear():
    account = ConnectionFactory.create(credentials="EAAB-secret-token-123")

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM audiences_connection WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]

    assert stored.startswith("fernet:")
    assert "EAAB-secret-token-123" not in stored
    account.refresh_from_db()
    assert account.credentials == "EAAB-secret-token-123"


@pytest.mark.django_db
def test_empty_credentials_stay_empty():
    account = ConnectionFactory.create(credentials="")
    account.refresh_from_db()
    assert account.credentials == ""


def test_a_currency_is_checked_against_common_money_and_its_list_stays_out_of_migrations():
    from django import forms
    from django.core.exceptions import ValidationError

    from common.fields import CurrencyField
    from common.money import CURRENCY_EXPONENT
    from offers.models import Offer

    field = Offer._meta.get_field("currency")
    assert isinstance(field, CurrencyField)
    _, path, args, kwargs = field.deconstruct()
    assert (path, args, kwargs) == ("common.fields.CurrencyField", [], {"default": "USD"})  # no codes copied
    assert {code for code, _ in field.choices or []} == set(CURRENCY_EXPONENT)
    field.clean("JPY", None)
    with pytest.raises(ValidationError, match="not a valid choice"):
        field.clean("XYZ", None)
    form_field = field.formfield()
    assert isinstance(form_field, forms.TypedChoiceField)  # the admin's list
    assert {"USD", "EUR", "JPY"} <= {value for value, _ in list(form_field.choices)}  # type: ignore[arg-type]
