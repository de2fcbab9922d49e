"""Split tests: each visitor sees one variant of a step, always the same one."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    @property
    def pk(self) -> int: ...
    @property
    def weight(self) -> int: ...


W = TypeVar("W", bound=Weighted)


# Every visitor of a step falls in one of this many buckets, for good; weights only move the borders between
# variants' ranges. Fine enough that a 1 % share is 100 buckets.
BUCKETS = 10_000


def visitor_bucket(*, visitor_id: uuid.UUID, step_id: int) -> int:
    """The visitor's fixed place on the step's bucket line: a hash of (visitor, step), the same forever."""
    digest = hashlib.sha256(f"{visitor_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant_ranges(variants: Sequence[W]) -> list[tuple[W, int, int]]:
    """Each active variant's contiguous range ``[start, end)`` of buckets, in id order, sized by its weight.

    Borders are ``BUCKETS * cumulative weight // total``, so proportional weights (1:1 and 50:50) give the same
    ranges, and a change of weights moves only the buckets between the old and the new borders: going from 1:1
    to 1:2 moves exactly the sixth of visitors that must move, from the first variant to the second.
    """
    active = sorted((v for v in variants if v.weight > 0), key=lambda v: v.pk)
    total = sum(v.weight for v in active)
    ranges, cumulative = [], 0
    for variant in active:
        start = BUCKETS * cumulative // total
        cumulative += variant.weight
        ranges.append((variant, start, BUCKETS * cumulative // total))
    return ranges


def variant_for(*, visitor_id: uuid.UUID, step_id: int, variants: Sequence[W]) -> W | None:
    """The variant whose range holds the visitor's bucket: sticky without storing it. Weight 0 pauses a variant."""
    bucket = visitor_bucket(visitor_id=visitor_id, step_id=step_id)
    for variant, start, end in variant_ranges(variants):
        if start <= bucket < end:
            return variant
    return None
