"""Admin sign-in: five failures lock the username, and separately the address, with a clear 429 page; a command
unlocks; the address counted is the one the connection (or the declared proxy) saw, never a header the client wrote."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sign_in(client, username, password, **headers):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **headers)


def test_five_failures_lock_the_account_even_for_the_right_password_until_unlocked():
    UserFactory.create(username="mia", role="marketer")
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(4):
        assert sign_in(client, "mia", "wrong").status_code == 200  # the form again, with its error
    assert sign_in(client, "mia", "wrong").status_code == 429  # the fifth failure locks
    locked = sign_in(Client(REMOTE_ADDR="10.0.0.2"), "mia", PASSWORD)  # another address: the account is locked
    assert locked.status_code == 429
    assert "is locked for 15 minutes" in locked.content.decode()
    call_command("axes_reset_username", "mia", stdout=StringIO())
    assert sign_in(Client(REMOTE_ADDR="10.0.0.2"), "mia", PASSWORD).status_code == 302


def test_failures_across_usernames_lock_the_address_and_a_forged_header_does_not_help():
    UserFactory.create(username="sam", role="sales")
    client = Client(REMOTE_ADDR="10.0.0.9")
    for name in ("a", "b", "c", "d", "e"):
        sign_in(client, name, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{ord(name)}")
    assert sign_in(client, "sam", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert sign_in(Client(REMOTE_ADDR="10.0.0.10"), "sam", PASSWORD).status_code == 302
