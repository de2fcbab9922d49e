"""Stripe's webhook endpoint. Thin: size check, verification, store; the work happens in a task."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.stripe.webhooks import WebhookRejected, webhook_verify
from offers.webhooks import stripe_event_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > settings.STRIPE_WEBHOOK_MAX_BYTES:
        return JsonResponse(
            {"detail": f"The body must state its length and be at most {settings.STRIPE_WEBHOOK_MAX_BYTES} bytes."},
            status=400,
        )
    try:
        event = webhook_verify(
            payload=request.body,
            signature=request.headers.get("Stripe-Signature"),
            secret=settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
        )
    except WebhookRejected as rejected:
        logger.warning("stripe.webhook.rejected reason=%s", rejected.reason)  # never the body or the signature
        return JsonResponse({"detail": rejected.reason}, status=400)
    new = stripe_event_receive(event=event)
    return JsonResponse({"received": True, "duplicate": not new}, status=200)
