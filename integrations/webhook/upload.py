"""The signed-webhook destination: batches of hashed identifiers POSTed to any platform's endpoint.

Each batch is one JSON body::

    {"type": "audience.add" | "audience.remove", "audience": "<remote audience id>",
     "rows": [{"EMAIL": "<sha256>", "PHONE": "<sha256>", ...}, ...]}

with the headers

* ``Ladder-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the shared secret>`` —
  the receiver recomputes it, compares in constant time and refuses a timestamp older than a few minutes;
* ``Ladder-Delivery: <id>`` — the same for every retry of the same batch (it is derived from the body), so the
  receiver can apply a batch once.

A 2xx answer accepts the batch; its JSON body may say ``{"accepted": n, "invalid": m, "reasons": {...}}``.
Timeouts, connection errors, 408, 425, 429 and 5xx are transient (the sync retries); any other answer,
redirects included, is permanent and reported with its status only, never the body, which could echo
identifiers back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import requests

from integrations.audience_upload import UploadResult, UploadRow
from integrations.errors import IntegrationPermanentError, IntegrationTransientError, unreachable

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "Ladder-Audience-Sync/1"


def signature_header(secret: str, body: bytes, *, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does with ``Ladder-Signature`` (Ladder's own tests use it as the reference)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature_header(secret, body, timestamp=timestamp), header.strip())


class WebhookUploader:
    records_payload = False

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        audience: str,
        batch_size: int = 5_000,
        timeout: tuple[float, float] = (5.0, 30.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url or not secret:
            raise IntegrationPermanentError("A signed-webhook destination needs an endpoint URL and a signing secret.")
        self.url, self._secret, self.audience = url, secret, audience
        self.batch_size, self._timeout, self._clock = batch_size, timeout, clock
        self._session = requests.Session()

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        return self._post("audience.add", rows)

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        return self._post("audience.remove", rows)

    def _post(self, kind: str, rows: list[UploadRow]) -> UploadResult:
        body = json.dumps(
            {"type": kind, "audience": self.audience, "rows": [row.hashes for row in rows]},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        answer = signed_post(
            self._session,
            self.url,
            self._secret,
            body,
            delivery=hashlib.sha256(body).hexdigest()[:32],
            timestamp=int(self._clock()),
            timeout=self._timeout,
        )
        return _result(answer, sent=len(rows))


def signed_post(
    session: requests.Session,
    url: str,
    secret: str,
    body: bytes,
    *,
    delivery: str,
    timestamp: int,
    timeout: tuple[float, float],
    headers: dict[str, str] | None = None,
    user_agent: str = USER_AGENT,
) -> requests.Response:
    """POST ``body`` (JSON) signed with ``secret`` (``Ladder-Signature``), with ``Ladder-Delivery`` the same for
    every retry of it. Returns a 2xx answer; raises IntegrationTransientError (network, 408, 425, 429, 5xx) or
    IntegrationPermanentError (anything else, redirects included), naming the status only, never the body, URL or
    secret."""
    sent = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "Ladder-Delivery": delivery,
        "Ladder-Signature": signature_header(secret, body, timestamp=timestamp),
        **(headers or {}),
    }
    try:
        answer = session.post(url, data=body, headers=sent, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        raise unreachable("The webhook", error) from None
    if answer.status_code in TRANSIENT_STATUSES:
        raise IntegrationTransientError(f"The webhook answered {answer.status_code}; will retry.")
    if not 200 <= answer.status_code < 300:
        raise IntegrationPermanentError(
            f"The webhook answered {answer.status_code} {answer.reason}; check its URL and signing secret."
        )
    return answer


def _result(answer: requests.Response, *, sent: int) -> UploadResult:
    """The receiver's counts when it gives sound ones; otherwise the whole batch counts as accepted."""
    try:
        said: Any = answer.json()
    except ValueError:
        return UploadResult(accepted=sent)
    if not isinstance(said, dict):
        return UploadResult(accepted=sent)
    accepted, invalid, reasons = said.get("accepted"), said.get("invalid", 0), said.get("reasons", {})
    if not isinstance(accepted, int) or not isinstance(invalid, int) or min(accepted, invalid) < 0:
        return UploadResult(accepted=sent)
    if accepted + invalid != sent:
        return UploadResult(accepted=sent)
    if not isinstance(reasons, dict) or not all(
        isinstance(key, str) and isinstance(count, int) for key, count in reasons.items()
    ):
        reasons = {}
    return UploadResult(accepted=accepted, invalid=invalid, reasons={key[:200]: n for key, n in reasons.items()})
