"""The lead list's filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from leads import selectors
from leads.models import (
    Event,
    Lead,
)

FunnelNames = Callable[[], list[tuple[int, str]]]
_funnel_names: list[FunnelNames] = []


def funnel_names_provide(names: FunnelNames) -> None:
    """The funnels app (a layer above leads) says how to list its funnels, at start-up: the event log stores only
    funnel ids, and leads never imports the app above it."""
    _funnel_names[:] = [names]


class FunnelFilter(admin.SimpleListFilter):
    title = "funnel"
    parameter_name = "funnel"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        if _funnel_names:
            return [(str(pk), name) for pk, name in _funnel_names[0]()]
        funnel_ids = Event.objects.filter(funnel_id__isnull=False).values_list("funnel_id", flat=True).distinct()
        return [(str(pk), f"Funnel {pk}") for pk in funnel_ids.order_by("funnel_id")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        if not self.value():
            return queryset
        try:
            funnel_id = int(self.value() or "")
        except ValueError:
            return queryset.none()
        return queryset.filter(Exists(Event.objects.filter(lead=OuterRef("pk"), funnel_id=funnel_id)))


class _ConsentFilter(admin.SimpleListFilter):
    purpose: str
    annotation: str

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("granted", "Granted"), ("withdrawn", "Withdrawn"), ("none", "Never asked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        value = self.value()
        if value in ("granted", "withdrawn"):
            return queryset.filter(**{self.annotation: value})
        if value == "none":
            return queryset.filter(**{f"{self.annotation}__isnull": True})
        return queryset


class AdConsentFilter(_ConsentFilter):
    title = "ad-audience consent"
    parameter_name = "ad_consent"
    annotation = "ad_consent"


class EmailConsentFilter(_ConsentFilter):
    title = "marketing e-mail consent"
    parameter_name = "email_consent"
    annotation = "email_consent"


class CountryFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code, code) for code in selectors.lead_countries()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        return queryset.filter(country=self.value()) if self.value() else queryset


class CreatedRangeFilter(admin.FieldListFilter):
    """Created between two dates (inclusive), typed into two date boxes."""

    template = "admin/leads/date_range_filter.html"

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any, field_path: str):
        self.parameter_since = f"{field_path}__since"
        self.parameter_until = f"{field_path}__until"
        self.errors: list[str] = []
        super().__init__(field, request, params, model, model_admin, field_path)
        # The base class moves our parameters from ``params`` into ``used_parameters``.
        self.since = self._date(self.used_parameters.get(self.parameter_since), "From")
        self.until = self._date(self.used_parameters.get(self.parameter_until), "To")
        self.title = "created"

    def _date(self, raw: Any, label: str) -> dt.date | None:
        value = raw[-1] if isinstance(raw, list) else raw
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.errors.append(f"{label}: {value!r} is not a date (YYYY-MM-DD); ignored.")
            return None

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_since, self.parameter_until]

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        # One "choice" carrying the form's state; the template draws the two date boxes from it.
        yield (
            {
                "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else "",
                "parameter_since": self.parameter_since,
                "parameter_until": self.parameter_until,
                "errors": self.errors,
                "clear_url": changelist.get_query_string(remove=[self.parameter_since, self.parameter_until]),
                "other_params": [
                    (key, value)
                    for key, value in changelist.get_filters_params().items()
                    if key not in (self.parameter_since, self.parameter_until)
                ],
            }
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        zone = timezone.get_current_timezone()
        if self.since:
            queryset = queryset.filter(
                **{f"{self.field_path}__gte": dt.datetime.combine(self.since, dt.time.min, tzinfo=zone)}
            )
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset
