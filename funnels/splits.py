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


def variant_for(*, visitor_id: uuid.UUID, step_id: int, variants: Sequence[W]) -> W | None:
    """Pick by a hash of (visitor, step) over the weights, so the choice is sticky without storing it.

    Variants are taken in id order; weight 0 pauses a variant. Changing weights moves only the visitors
    whose bucket changes owner.
    """
    active = sorted((v for v in variants if v.weight > 0), key=lambda v: v.pk)
    if not active:
        return None
    total = sum(v.weight for v in active)
    digest = hashlib.sha256(f"{visitor_id}:{step_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % total
    for variant in active:
        if bucket < variant.weight:
            return variant
        bucket -= variant.weight
    return active[-1]
