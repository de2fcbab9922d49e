"""Where files that must never be served publicly are kept."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import storages


def private_storage() -> Any:
    """``STORAGES["private"]``: uploaded lists and what buyers paid for (personal data, paid content). Served only
    through Ladder's own checks; in production point it at a private bucket."""
    return storages["private"]
