import pytest
from django.db import connection

from tests.factories import DestinationFactory


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest_and_read_back_in_clear():
    destination = DestinationFactory.create(credentials="EAAB-secret-token-123")

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM audiences_destination WHERE id = %s", [destination.pk])
        stored = cursor.fetchone()[0]

    assert stored.startswith("fernet:")
    assert "EAAB-secret-token-123" not in stored
    destination.refresh_from_db()
    assert destination.credentials == "EAAB-secret-token-123"


@pytest.mark.django_db
def test_empty_credentials_stay_empty():
    destination = DestinationFactory.create(credentials="")
    destination.refresh_from_db()
    assert destination.credentials == ""
