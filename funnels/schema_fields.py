"""Capture API fields whose OpenAPI description says exactly what is accepted, so generated clients (and the
schema-driven tests) send what Ladder takes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "pattern": r"^pk_[A-Za-z0-9_-]{1,37}$", "maxLength": 40})
class PublicKey(serializers.CharField):
    """A funnel's public key, as the funnel's admin page shows it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(min_length=1, max_length=40, **kwargs)  # type: ignore[arg-type]


@extend_schema_field({"type": "string", "pattern": r"\S", "maxLength": 100})
class SubmissionId(serializers.CharField):
    """An id the client chooses: something besides blanks (they are trimmed)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_length=100, **kwargs)  # type: ignore[arg-type]


@extend_schema_field({"type": "string", "format": "email", "pattern": r"^\S(.*\S)?$", "maxLength": 320})
class EmailText(serializers.CharField):
    """An e-mail address, checked and normalized by the capture (``leads.normalization.normalize_email``)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_length=320, **kwargs)  # type: ignore[arg-type]


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 0,
        "description": "Honeypot, hidden from people: leave it out or empty. Anything in it is refused (400).",
    }
)
class Honeypot(serializers.CharField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(required=False, allow_blank=True, max_length=200, **kwargs)  # type: ignore[arg-type]

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value:
            raise serializers.ValidationError("This field must be left empty.")
        return str(value)
