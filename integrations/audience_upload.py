"""The interface every audience destination implements, and the sandbox destination.

A destination receives batches of people as hashed identifiers (never raw PII) to add to or remove from one
remote audience. ``key`` is an opaque reference Ladder uses to match results back to its ledger; platforms never
see it. Each call answers how many rows were accepted and, for the rest, why (counts by reason, never the
identifiers).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UploadRow:
    key: str
    hashes: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadResult:
    accepted: int
    invalid: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    request_id: str = ""  # platforms that apply a request later (Google): what to ask about it by


class AudienceUploader(Protocol):
    """``add`` takes at most ``batch_size`` rows; ``last`` marks the final add of a sync (one upload session)."""

    batch_size: int

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult: ...

    def remove(self, rows: list[UploadRow]) -> UploadResult: ...


VALUE = "LOOKALIKE_VALUE"  # a value-based audience's number for each member, not an identifier


def _checked(rows: list[UploadRow]) -> UploadResult:
    reasons: Counter[str] = Counter()
    for row in rows:
        identifiers = [value for key, value in row.hashes.items() if key != VALUE]
        if not identifiers:
            reasons["no usable identifier"] += 1
        elif any(len(value) != 64 for value in identifiers):
            reasons["identifier not hashed"] += 1
    invalid = sum(reasons.values())
    return UploadResult(accepted=len(rows) - invalid, invalid=invalid, reasons=dict(reasons))


class SandboxUploader:
    """Sends nothing anywhere: accepts what a platform would accept, and the sync records each batch's payload
    so the marketer can see exactly what would have been sent (Meta's multi-key schema)."""

    platform = "sandbox"
    records_payload = True

    def __init__(self, *, batch_size: int = 10_000) -> None:
        self.batch_size = batch_size

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        return _checked(rows)

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        return _checked(rows)
