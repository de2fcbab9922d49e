"""Per-user API tokens: made (shown once), checked, revoked. Only a SHA-256 of each secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.utils import timezone

from pipeline.models import ApiToken

SCHEME = "ldr"


@dataclass(frozen=True, slots=True)
class MadeToken:
    token: ApiToken
    secret: str  # the whole token, to show once: "ldr_<prefix>_<secret>"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_make(*, user_id: int, name: str) -> MadeToken:
    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user_id=user_id, name=name[:100], prefix=prefix, secret_sha256=_digest(secret))
    return MadeToken(token=token, secret=f"{SCHEME}_{prefix}_{secret}")


def token_check(presented: str) -> ApiToken | None:
    """The live token ``presented`` names, or None (unknown, malformed, revoked, or its user inactive)."""
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != SCHEME or not parts[1] or not parts[2]:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1][:12]).first()
    if token is None or not hmac.compare_digest(token.secret_sha256, _digest(parts[2])):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:  # one write a minute at most
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
