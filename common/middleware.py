"""Response headers every page carries."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Ladder's pages use none of these browser features; a page (or an injected script) cannot either.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), usb=(), "
    "interest-cohort=(), browsing-topics=()"
)


def content_security_policy() -> str:
    """Scripts, frames and connections only from Ladder itself and from Stripe (Stripe.js and its frames, or the
    stand-in STRIPE_JS_URL names); no inline scripts anywhere (the templates have none); inline styles stay allowed,
    as the admin's own templates use them; no framing of Ladder's pages by others."""
    stripe = {"https://js.stripe.com", "https://api.stripe.com", "https://hooks.stripe.com", "https://m.stripe.network"}
    parts = urlsplit(settings.STRIPE_JS_URL or "")
    if parts.scheme and parts.netloc:
        stripe.add(f"{parts.scheme}://{parts.netloc}")
    origins = " ".join(sorted(stripe))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {origins}",
            f"frame-src 'self' {origins}",
            f"connect-src 'self' {origins}",
            "img-src 'self' data: https:",
            "style-src 'self' 'unsafe-inline'",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        return response


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
