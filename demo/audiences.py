"""The demo's audiences: the standard presets built from its history, each synced once to a sandbox."""

from __future__ import annotations

from django.conf import settings

from audiences.models import Audience, Connection, Destination
from audiences.presets import presets
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from demo.ladder import (
    Ladder,
)

DEMO_AUDIENCES = (
    "optin_no_tripwire",
    "tripwire_not_core",
    "abandoned_checkout",
    "recent_customers",
    "top_revenue",
    "lapsed_buyers",
    "top_predicted_value",
)
VALUE_BASED = {"top_predicted_value"}  # previewed as a value-based (LOOKALIKE_VALUE) Meta audience


def ensure_demo_audiences(ladder: Ladder) -> None:
    """The standard audiences, built from the demo's history, each synced once to a sandbox destination; the top
    predicted value audience's sandbox previews a value-based Meta audience (each member's predicted value)."""
    for preset in presets(days=30):
        if preset.key not in DEMO_AUDIENCES:
            continue
        audience, created = Audience.objects.get_or_create(
            slug=preset.key.replace("_", "-"),
            defaults={"name": preset.name, "description": preset.description, "rule": preset.rule},
        )
        sandbox, _ = Connection.objects.get_or_create(
            name="Sandbox", platform=Connection.Platform.SANDBOX, defaults={"account_id": ""}
        )
        destination, _ = Destination.objects.get_or_create(
            audience=audience,
            connection=sandbox,
            defaults={
                "name": "Sandbox preview",
                "value_based": preset.key in VALUE_BASED,
                "value_currency": settings.REPORTS_CURRENCY if preset.key in VALUE_BASED else "",
            },
        )
        if created:
            audience_refresh(audience=audience)
            destination_sync(destination=destination)
