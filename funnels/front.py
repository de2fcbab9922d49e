"""The capture front: certainly-valid beacons and opt-ins answered before Django's middleware and URL routing.

Pages send beacons far more often than anything else, and neither a beacon nor an API opt-in needs what the
middleware gives a page (sessions, CSRF, users, messages): that work was most of their cost. So the WSGI application
is wrapped in ``CaptureFront``, which takes only ``POST /api/v1/events`` and ``POST /api/v1/optins`` with the inbox on,
an allowed host, a request that needs no https redirect, and a funnel whose snapshot this process already holds; it
answers through the API's own fast paths (``funnels.capture.fast``) and gives the response
the headers Django's security and frame middleware would. Anything else, and any doubt, goes to Django untouched
(with the body it read handed on), so the front never answers what the API would answer differently, and it never
touches the database.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from funnels.capture.fast import beacon_answer, optin_answer
from funnels.snapshots import cached_snapshot

# The routes named api-events and api-optins (a test keeps them in step), each with the API's fast path for it.
FAST_PATHS = {"/api/v1/events": beacon_answer, "/api/v1/optins": optin_answer}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _unused(request: HttpRequest) -> HttpResponse:  # the middleware are called for their hooks only
    raise AssertionError("the capture front never calls through its middleware")


class CaptureFront:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.security = SecurityMiddleware(_unused)
        self.frames = XFrameOptionsMiddleware(_unused)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        fast_path = FAST_PATHS.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if fast_path is None:
            return self.app(environ, start_response)
        request = WSGIRequest(environ)
        response = self.answer(request, fast_path)
        if response is None:
            if hasattr(request, "_body"):  # Django reads the body again from the start
                environ["wsgi.input"] = io.BytesIO(request.body)
            return self.app(environ, start_response)
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [*response.items(), *(("Set-Cookie", cookie.OutputString()) for cookie in response.cookies.values())],
        )
        return response

    def answer(self, request: WSGIRequest, fast_path: Callable[..., HttpResponse | None]) -> HttpResponse | None:
        try:
            request.get_host()  # ALLOWED_HOSTS: Django answers a bad host with its own 400
        except DisallowedHost:
            return None
        if self.security.process_request(request) is not None:  # the https redirect is Django's to give
            return None
        response = fast_path(request, snapshot_for=cached_snapshot)
        if response is None:
            return None
        self.security.process_response(request, response)
        self.frames.process_response(request, response)
        return response
