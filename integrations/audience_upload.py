"""The interface every audience destination implements.

A destination receives batches of people as hashed identifiers (never raw PII) to add to or remove from one
remote audience. ``key`` is an opaque reference Ladder uses to match results back to its ledger; platforms never
see it. Each call answers how many rows were accepted and, for the rest, why (counts by reason, never the
identifiers).
"""

from __future__ import annotations

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
