"""The public capture API for forms and beacons embedded on other sites.

Every request names its funnel by the funnel's public key. A browser's ``Origin`` must be one of the funnel's
allowed origins (requests without one, from servers, are accepted). Requests are throttled per IP address and,
for opt-ins, per e-mail address; bodies are JSON, at most ``API_MAX_BODY_BYTES``, with no unknown fields.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ApplicationError, ConflictError
from common.parsers import BoundedJSONParser, holds_unstorable
from funnels import services
from funnels.capture import entries
from funnels.capture.fast import beacon_answer, cors_allow, optin_answer
from funnels.capture.throttles import CaptureEmailThrottle, CaptureIPThrottle, OptinIPThrottle
from funnels.schema_fields import EmailText, Honeypot, PublicKey, SubmissionId
from funnels.snapshots import FunnelSnapshot, funnel_snapshot, live_origins
from funnels.tracking import attribution_from_url
from leads.contracts import Attribution
from leads.identity import CaptureInvalid
from leads.models import Consent

COMMON_ERRORS = {
    401: OpenApiResponse(description="Unknown funnel key."),
    403: OpenApiResponse(description="Origin not allowed for the funnel."),
    404: OpenApiResponse(description="Funnel not published."),
    413: OpenApiResponse(description="Body too large."),
    415: OpenApiResponse(description="Not JSON."),
}


KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,40}")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming each one, instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown[:20]})
        return super().to_internal_value(data)


class AttributionFields(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False, help_text="The page the visitor is on.")
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    fbc = serializers.CharField(max_length=500, required=False, allow_blank=True, help_text="Meta's _fbc cookie.")


def _attribution(data: dict[str, Any], now: dt.datetime) -> Attribution | None:
    if not data.get("url"):
        return None
    return attribution_from_url(
        url=data["url"], referrer=data.get("referrer", ""), fbc_cookie=data.get("fbc", ""), now=now
    )


class _CaptureApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [BoundedJSONParser]
    throttle_classes: list[Any] = [CaptureIPThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.API_MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is {length} bytes; at most {settings.API_MAX_BODY_BYTES} are accepted.")
        super().initial(request, *args, **kwargs)

    def _funnel(self, request: Request) -> FunnelSnapshot:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        key = request.data.get("key")
        if not isinstance(key, str) or not key:
            raise exceptions.ValidationError({"key": ["This field is required: the funnel's public key."]})
        # Keys are "pk_" and URL-safe characters: anything else (a NUL byte, say) is unknown, without a query.
        snapshot = funnel_snapshot(public_key=key) if KEY_SHAPE.fullmatch(key) else None
        if snapshot is None:
            raise exceptions.AuthenticationFailed("Unknown funnel key.")
        if not snapshot.live:
            raise exceptions.NotFound("This funnel is not published.")
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/").lower() not in snapshot.origins:
            raise exceptions.PermissionDenied(
                f"Origin {origin[:200]} is not allowed for this funnel; add it to the funnel's allowed origins."
            )
        return snapshot

    def get_authenticate_header(self, request: Request) -> str:
        return 'Key realm="ladder", charset="UTF-8"'  # so an unknown key is a 401, as HTTP asks

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        if origin:
            self._cors(response, origin)
        response["Vary"] = "Origin"
        return response

    @classmethod
    def _cors(cls, response: Any, origin: str) -> None:
        if origin.rstrip("/").lower() in live_origins():
            cors_allow(response, origin)

    def get_throttles(self) -> list[Any]:
        if self.request.method == "OPTIONS":
            return []
        return super().get_throttles()


class OptinApi(_CaptureApi):
    """Opt-ins. With the inbox on, one that is certainly valid takes the fast path (funnels.capture.fast): no
    serializers, no database, one Redis round trip, and a 202 (it is written within about a second). The answer is the
    same for a new and a known address. Everything else, errors included, takes the full path and is written before
    the answer."""

    throttle_classes = [CaptureIPThrottle, OptinIPThrottle, CaptureEmailThrottle]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        fast = optin_answer(request, snapshot_for=funnel_snapshot)
        return fast if fast is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema_serializer(component_name="Optin")
    class InputSerializer(StrictSerializer, AttributionFields):
        key = PublicKey(help_text="The funnel's public key.")
        id = SubmissionId(help_text="Your id for this submission; sending it again records nothing more.")
        email = EmailText()
        first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
        last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
        phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
        step = serializers.SlugField(
            required=False, help_text="One of the funnel's opt-in steps (its slug); the funnel's first one if omitted."
        )
        consents = serializers.ListField(
            child=serializers.ChoiceField(choices=Consent.Purpose.choices),
            required=False,
            max_length=2,
            help_text="The purposes the person ticked, next to the step's own wording.",
        )
        visitor_id = serializers.UUIDField(required=False)
        website = Honeypot()

    @extend_schema_serializer(component_name="OptinResult")
    class OutputSerializer(serializers.Serializer):
        """The same for a new address and a known one: the public key reads nothing about leads."""

        recorded = serializers.BooleanField(
            allow_null=True, help_text="False when this submission id was already recorded; null when queued."
        )
        next_url = serializers.CharField(allow_blank=True, help_text="The page to send the visitor to next.")

    @extend_schema(
        operation_id="optin_create",
        summary="Capture an opt-in",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(OutputSerializer, description="Already recorded (same id)."),
            409: OpenApiResponse(description="This id was already used for a different e-mail address."),
            202: OpenApiResponse(
                OutputSerializer, description="Accepted and queued (the event inbox is on): written within seconds."
            ),
            400: OpenApiResponse(description="Field errors: {field: [messages]}."),
            **COMMON_ERRORS,
            429: OpenApiResponse(description="Too many requests from this address or for this e-mail."),
        },
    )
    def post(self, request: Request) -> Response:
        snapshot = self._funnel(request)
        funnel = snapshot.funnel
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        step = snapshot.optin_step(data.get("step"))
        if step is None:
            raise exceptions.ValidationError({"step": ["This funnel has no such opt-in step."]})
        visitor_is_new = "visitor_id" not in data  # made here for this submission: no earlier visits to link
        visitor_id = data.get("visitor_id") or services.visitor_for_submission(funnel=funnel, submission_id=data["id"])
        ticked = set(data.get("consents", []))
        asked = entries.consents_asked(step)
        if ticked - asked.keys():
            raise exceptions.ValidationError(
                {"consents": [f"This step does not ask for {', '.join(sorted(ticked - asked.keys()))} consent."]}
            )
        try:
            capture = services.funnel_optin(
                visit=entries.visit_for(step, visitor_id),
                submission_id=data["id"],
                email=data["email"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                phone=data.get("phone", ""),
                consents={purpose: purpose in ticked for purpose in asked},
                attribution=_attribution(data, timezone.now()),
                source=entries.api_source(funnel, step),
                visitor_is_new=visitor_is_new,
            )
        except CaptureInvalid as invalid:
            raise exceptions.ValidationError(invalid.errors) from invalid
        except ConflictError as conflict:
            raise Conflict({conflict.field or "id": [conflict.message]}) from conflict
        except ApplicationError as refused:
            raise exceptions.ValidationError({refused.field or "non_field_errors": [refused.message]}) from refused
        body = self.OutputSerializer(
            {"recorded": capture.optin_recorded, "next_url": entries.next_url(snapshot, step)}
        ).data
        return Response(body, status=status.HTTP_201_CREATED if capture.optin_recorded else status.HTTP_200_OK)


class EventsApi(_CaptureApi):
    """Event beacons. With the inbox on, a batch that is certainly valid takes the fast path (funnels.capture.fast):
    no serializers, no database, one Redis round trip. Everything else, errors included, takes the full path."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        fast = beacon_answer(request, snapshot_for=funnel_snapshot)
        return fast if fast is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema_serializer(component_name="Event")
    class EventSerializer(StrictSerializer, AttributionFields):
        id = SubmissionId(help_text="Your id for this event; resending it is harmless.")
        type = serializers.ChoiceField(choices=[("page_view", "page_view"), ("custom", "custom")])
        name = serializers.CharField(
            max_length=100, required=False, allow_blank=True, help_text="The event's name: required for custom events."
        )
        visitor_id = serializers.UUIDField()
        step = serializers.SlugField(required=False)
        occurred_at = serializers.DateTimeField(
            required=False,
            help_text="When it happened: from 7 days before to 5 minutes after the server's clock. Defaults to when "
            "it arrives.",
        )
        properties = serializers.DictField(required=False)

        def validate_properties(self, value: dict[str, Any]) -> dict[str, Any]:
            if len(value) > entries.PROPERTIES_MAX_KEYS:
                raise serializers.ValidationError(f"At most {entries.PROPERTIES_MAX_KEYS} properties.")
            if len(json.dumps(value)) > entries.PROPERTIES_MAX_BYTES:
                raise serializers.ValidationError(
                    f"Properties take at most {entries.PROPERTIES_MAX_BYTES} bytes as JSON."
                )
            if holds_unstorable(value):
                raise serializers.ValidationError(
                    "Properties may not contain NUL characters or unpaired UTF-16 surrogates (\\u0000, \\ud800…)."
                )
            return value

        def validate_occurred_at(self, value: dt.datetime) -> dt.datetime:
            now = timezone.now()
            if value > now + entries.EVENT_FUTURE_LIMIT:
                raise serializers.ValidationError("This time is in the future; send the time the event happened.")
            if value < now - entries.EVENT_PAST_LIMIT:
                raise serializers.ValidationError("Events older than 7 days are not accepted.")
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["type"] == "custom" and not attrs.get("name"):
                raise serializers.ValidationError({"name": ["A custom event needs a name."]})
            return attrs

    @extend_schema_serializer(component_name="EventsBatchShape")
    class InputSerializer(StrictSerializer):
        key = PublicKey(help_text="The funnel's public key.")
        events = serializers.ListField(min_length=1, max_length=entries.EVENTS_MAX)

    @extend_schema_serializer(component_name="EventsResult")
    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField(help_text="Events accepted; each will be recorded once.")
        recorded = serializers.IntegerField(
            allow_null=True, help_text="Events stored now; null when they were queued to be written within seconds."
        )
        duplicates = serializers.IntegerField(
            allow_null=True, help_text="Events whose id had already been recorded; null when queued."
        )

    @extend_schema(
        operation_id="events_create",
        summary="Record a batch of up to 100 events",
        request=inline_serializer(
            "EventsBatch",
            {"key": serializers.CharField(), "events": EventSerializer(many=True)},
        ),
        responses={
            202: OutputSerializer,
            400: OpenApiResponse(description="Field errors; for events, keyed by their position."),
            **COMMON_ERRORS,
            429: OpenApiResponse(description="Too many requests from this address."),
        },
    )
    def post(self, request: Request) -> Response:
        snapshot = self._funnel(request)
        batch = self.InputSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = self.EventSerializer(data=batch.validated_data["events"], many=True)
        if not items.is_valid():
            raw = items.errors
            pairs = raw.items() if isinstance(raw, dict) else enumerate(raw)
            raise exceptions.ValidationError({"events": {str(i): e for i, e in pairs if e}})
        rows = items.validated_data
        ids = [row["id"] for row in rows]
        if len(set(ids)) != len(ids):
            raise exceptions.ValidationError({"events": ["Each event in a batch needs its own id."]})
        steps = snapshot.steps
        unknown = sorted({row["step"] for row in rows if row.get("step")} - set(steps))
        if unknown:
            raise exceptions.ValidationError({"events": [f"No step {slug!r} in this funnel." for slug in unknown]})
        now = timezone.now()
        recorded, duplicates = services.events_ingest(
            funnel=snapshot.funnel,
            events=[
                services.ReportedEvent(
                    client_id=row["id"],
                    type=row["type"],
                    name=row.get("name", ""),
                    visitor_id=row["visitor_id"],
                    occurred_at=row.get("occurred_at") or now,
                    step=steps.get(row.get("step", "")),
                    properties=row.get("properties", {}),
                    attribution=_attribution(row, now),
                )
                for row in rows
            ],
        )
        return Response(
            self.OutputSerializer({"accepted": len(rows), "recorded": recorded, "duplicates": duplicates}).data,
            status=status.HTTP_202_ACCEPTED,
        )
