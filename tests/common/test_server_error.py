"""The answer to an error nothing handled: a database that is away is a 503 with Retry-After (JSON on the API),
anything else the 500 page; neither shows the error's text."""

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from django.urls import path


def _raises(error):
    def view(request):
        raise error

    return view


urlpatterns = [
    path("api/v1/down", _raises(OperationalError('connection to server at "10.0.0.5" failed: secret-host'))),
    path("page/down", _raises(InterfaceError("connection already closed"))),
    path("api/v1/bug", _raises(ZeroDivisionError("division by zero"))),
    path("page/bug", _raises(KeyError("oops"))),
]
handler500 = "common.views.server_error"


@pytest.fixture
def client(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    ("url", "status", "kind", "says"),
    [
        ("/api/v1/down", 503, "application/json", "briefly unavailable"),
        ("/page/down", 503, "text/html", "Back in a moment"),
        ("/api/v1/bug", 500, "application/json", "Something went wrong on our side"),
        ("/page/bug", 500, "text/html", "Something went wrong on our side"),
    ],
)
def test_errors_answer_by_kind_and_path_without_their_text(client, url, status, kind, says):
    response = client.get(url)
    assert response.status_code == status
    assert response["Content-Type"].startswith(kind)
    body = response.content.decode()
    assert says in body
    for leaked in ("secret-host", "10.0.0.5", "already closed", "division", "oops"):
        assert leaked not in body
    assert response.get("Retry-After") == ("5" if status == 503 else None)
