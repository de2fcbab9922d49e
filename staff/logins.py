"""Who is trying to sign in to the admin: the client address the lockout counts failures by."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from common.http import client_ip

__all__ = ["client_ip", "locked_out"]  # client_ip: django-axes reads it from here (settings)


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """The answer to a sign-in while locked out: 429 with the admin's sign-in page saying why and for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "staff/locked_out.html",
        {**admin.site.each_context(request), "title": "Sign-in locked", "minutes": minutes},
        status=429,
    )
