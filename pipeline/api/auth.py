"""How the staff API knows who is calling (a personal token, or the admin's session), what they may do (their model
permissions, as in the admin), and how it says no (one error shape: ``{"detail", "fields"}``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import exception_handler

from pipeline.tokens import token_check


class PersonalToken(BaseAuthentication):
    """``Authorization: Bearer ldr_…`` (or ``Token ldr_…``)."""

    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, presented = header.partition(" ")
        if keyword.lower() not in self.keywords or not presented.strip():
            return None
        token = token_check(presented)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown, revoked, or its user is inactive.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="ladder"'


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pipeline.api.auth.PersonalToken"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal token from Admin → API tokens or `python manage.py api_token --user NAME`.",
        }


class StaffThrottle(UserRateThrottle):
    rate = "600/min"


class ModelPermission(BasePermission):
    """The permission a view names for each method (``view.perms``), held by the signed-in person."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        needed = view.perms.get(request.method, view.perms.get("*"))
        return needed is not None and all(user.has_perm(p) for p in needed)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as ``{"detail": "...", "fields": {field: [messages]}}`` (fields empty when none is at fault)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        fields = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        response.data = {"detail": "Some fields are not right: see fields.", "fields": fields}
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        response.data = {"detail": str(detail), "fields": {}}
    return response
