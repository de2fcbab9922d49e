"""The answer for an error nothing else handled: a database that is briefly away (a restart, a failover, a lost
connection) is a 503 with ``Retry-After``, so browsers' users and API clients know to try again; anything else is
the 500 page. API paths answer JSON in the API's error shape."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

RETRY_AFTER_SECONDS = 5
_MESSAGES = {
    503: "The database is briefly unavailable; nothing was changed. Try again in a few seconds.",
    500: "Something went wrong on our side. It has been logged; please try again in a minute.",
}


def server_error(request: HttpRequest) -> HttpResponse:
    status = 503 if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)) else 500
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": _MESSAGES[status]}, status=status)
    else:  # rendered without the request's context: the context processors may need the database that failed
        response = HttpResponse(loader.get_template(f"{status}.html").render(), status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
