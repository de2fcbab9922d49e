"""Per-process snapshots of live funnels for the capture API, so a beacon costs no funnel queries.

A snapshot holds the funnel, its steps (with offer and variants) and its allowed origins. It is kept for
``CAPTURE_FUNNEL_CACHE_SECONDS`` (default 10): publishing, unpublishing or editing a funnel reaches the API
within that time. The hosted pages never use it; they always read the database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from funnels.models import Funnel, Route, Step


@dataclass(frozen=True, kw_only=True, slots=True)
class FunnelSnapshot:
    funnel: Funnel
    steps: dict[str, Step]  # by slug, with offer and variants loaded
    origins: frozenset[str]
    routes: dict[tuple[int, str], str]  # (step id, outcome) → slug of the step it leads to

    def next_slug(self, step: Step, outcome: str) -> str | None:
        return self.routes.get((step.pk, outcome))

    @property
    def live(self) -> bool:
        return self.funnel.status == Funnel.Status.LIVE

    def optin_step(self, slug: str | None) -> Step | None:
        optins = sorted((s for s in self.steps.values() if s.kind == Step.Kind.OPTIN), key=lambda s: (s.position, s.pk))
        if slug:
            return next((s for s in optins if s.slug == slug), None)
        return optins[0] if optins else None


_lock = threading.Lock()
_by_key: dict[str, tuple[float, FunnelSnapshot | None]] = {}
_live_origins: tuple[float, frozenset[str]] = (0.0, frozenset())


def _ttl() -> float:
    return float(getattr(settings, "CAPTURE_FUNNEL_CACHE_SECONDS", 10))


def _load(public_key: str) -> FunnelSnapshot | None:
    funnel = Funnel.objects.filter(public_key=public_key).first()
    if funnel is None:
        return None
    steps = Step.objects.filter(funnel=funnel).select_related("offer").prefetch_related("variants")
    for step in steps:
        step.funnel = funnel  # the pages' code reads step.funnel; share the one instance
    routes = {
        (from_id, outcome): slug
        for from_id, outcome, slug in Route.objects.filter(funnel=funnel).values_list(
            "from_step_id", "outcome", "to_step__slug"
        )
    }
    return FunnelSnapshot(
        funnel=funnel, steps={step.slug: step for step in steps}, origins=frozenset(funnel.origins), routes=routes
    )


def funnel_snapshot(*, public_key: str) -> FunnelSnapshot | None:
    now = time.monotonic()
    cached = _by_key.get(public_key)
    if cached is not None and cached[0] > now:
        return cached[1]
    snapshot = _load(public_key)
    with _lock:
        if len(_by_key) > 10_000:  # unknown keys from scanners must not grow the cache without bound
            _by_key.clear()
        _by_key[public_key] = (now + _ttl(), snapshot)
    return snapshot


def cached_snapshot(*, public_key: str) -> FunnelSnapshot | None:
    """The snapshot this process already holds for a live or known key, without touching the database."""
    cached = _by_key.get(public_key)
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def live_origins() -> frozenset[str]:
    """Every origin any live funnel allows: decides CORS headers before the request's funnel is known."""
    global _live_origins
    now = time.monotonic()
    expires, origins = _live_origins
    if expires > now:
        return origins
    origins = frozenset(
        origin
        for text in Funnel.objects.filter(status=Funnel.Status.LIVE)
        .exclude(allowed_origins="")
        .values_list("allowed_origins", flat=True)
        for origin in Funnel(allowed_origins=text).origins
    )
    _live_origins = (now + _ttl(), origins)
    return origins


def forget_all() -> None:
    global _live_origins
    with _lock:
        _by_key.clear()
        _live_origins = (0.0, frozenset())
