"""Facts about a request every app needs the same way."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The connecting address; behind the one proxy ``BEHIND_PROXY`` declares, the address that proxy saw (the last
    entry of X-Forwarded-For, which the client cannot forge), never an entry the client wrote itself."""
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return str(request.META.get("REMOTE_ADDR", ""))
