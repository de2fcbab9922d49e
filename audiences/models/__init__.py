from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from audiences.rules import rule_problems


def _default_rule() -> dict[str, Any]:
    return {"event": {"type": "optin", "within_days": 7}}


class Audience(models.Model):
    """A named group of leads to retarget or exclude, kept in sync with ad platforms through destinations.

    ``rule`` says who belongs (see audiences/rules/__init__.py); the members are stored and kept current.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    rule = models.JSONField(default=_default_rule, help_text="Who belongs: conditions on events, purchases, fields.")
    refresh_minutes = models.PositiveIntegerField(
        default=60, help_text="Besides the live updates, rebuild the whole audience this often (repairs drift)."
    )
    member_count = models.PositiveIntegerField(default=0, editable=False)
    rule_error = models.TextField(
        blank=True, editable=False, help_text="Why the last refresh could not run (members were left as they were)."
    )
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(refresh_minutes__gte=5), name="audience_refresh_5m")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problems = rule_problems(self.rule)
        if problems:
            raise ValidationError({"rule": problems})


class AudienceMember(models.Model):
    """A lead in an audience now, and since when.

    Derived data: a full refresh rebuilds it from the rule, so it is kept lean for that rebuild's bulk insert
    (half a million rows at a time). Its key is (audience, lead), with no surrogate id, and it carries no
    database foreign keys, whose per-row checks would cost more than the insert itself. Django still deletes
    a lead's or an audience's members with them, and a full refresh removes any row whose lead the rule no
    longer selects, an orphan included; every reader joins to the lead, so an orphan is never uploaded.
    """

    pk = models.CompositePrimaryKey("audience", "lead")
    audience = models.ForeignKey(
        Audience, on_delete=models.CASCADE, related_name="members", db_index=False, db_constraint=False
    )
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="audience_memberships", db_index=False, db_constraint=False
    )
    since = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["lead"], name="audience_member_lead")]

    def __str__(self) -> str:
        return f"{self.lead_id} in {self.audience_id}"


class AudienceSize(models.Model):
    """An audience's size on a day (the last full refresh of that day), for its growth chart."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["audience", "day"]
        constraints = [models.UniqueConstraint(fields=["audience", "day"], name="audience_size_daily")]

    def __str__(self) -> str:
        return f"{self.audience_id} on {self.day}: {self.size}"


# What an audience is sent through, and where conversions are reported, live beside it; imported here so the app sees
# them as its models.
from audiences.models.connections import Connection  # noqa: E402
from audiences.models.conversions import ConversionDelivery, ConversionDestination  # noqa: E402
from audiences.models.destinations import Destination, SyncBatch, SyncLedger, SyncRun  # noqa: E402

__all__ = [
    "Audience",
    "AudienceMember",
    "AudienceSize",
    "Connection",
    "ConversionDelivery",
    "ConversionDestination",
    "Destination",
    "SyncBatch",
    "SyncLedger",
    "SyncRun",
]
