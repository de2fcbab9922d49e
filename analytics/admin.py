"""The admin of what analytics owns (exchange rates), and the lead list with each lead's value.

The lead list is the leads app's, extended here with net revenue, predicted value and activity in the reporting
currency, sortable and filterable: the leads app knows nothing of analytics, so the composition happens one layer up.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from analytics.models import Buyer, CustomerValue, ExchangeRate
from analytics.value import activity
from common.money import format_money
from leads.admin import LeadAdmin
from leads.models import Lead


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "rate_text", "valid_from", "created_at"]
    list_filter = ["currency"]
    ordering = ["currency", "-valid_from"]

    @admin.display(description="Rate", ordering="rate")
    def rate_text(self, obj: ExchangeRate) -> str:
        return f"1 {obj.currency} = {obj.rate.normalize():f} {settings.REPORTS_CURRENCY}"


class ActivityFilter(admin.SimpleListFilter):
    title = "activity (predicted)"
    parameter_name = "activity"
    LIMITS = {"active": (0.7, None), "at_risk": (0.3, 0.7), "lapsed": (None, 0.3)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("active", "Likely active (≥ 70 %)"),
            ("at_risk", "At risk (30–70 %)"),
            ("lapsed", "Lapsed (< 30 %)"),
            ("none", "No prediction"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        choice = self.value()
        if choice == "none":
            return queryset.filter(Q(p_alive__isnull=True))
        if choice not in self.LIMITS:
            return queryset
        low, high = self.LIMITS[choice]
        if low is not None:
            queryset = queryset.filter(Q(p_alive__gte=low))
        if high is not None:
            queryset = queryset.filter(Q(p_alive__lt=high))
        return queryset


class PredictedValueFilter(admin.SimpleListFilter):
    title = "predicted value"
    parameter_name = "predicted"
    SHARES = {"top10": 10, "top25": 25}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("top10", "Top 10 % of buyers"), ("top25", "Top 25 % of buyers"), ("any", "Any prediction")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        choice = self.value()
        if choice == "any":
            return queryset.filter(Q(predicted_minor__isnull=False))
        if choice not in self.SHARES:
            return queryset
        scored = CustomerValue.objects.filter(currency=settings.REPORTS_CURRENCY)
        rank = max(scored.count() * self.SHARES[choice] // 100, 1)
        threshold = scored.order_by("-predicted_value_minor").values_list("predicted_value_minor", flat=True)[
            rank - 1 : rank
        ]
        found = list(threshold)
        return queryset.filter(Q(predicted_minor__gte=found[0])) if found else queryset.none()


class LeadValueAdmin(LeadAdmin):
    list_display = [*LeadAdmin.list_display[:-1], "net_value", "predicted_value", "activity", "created_at"]
    list_filter = [*LeadAdmin.list_filter, ActivityFilter, PredictedValueFilter]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        currency = settings.REPORTS_CURRENCY
        value = CustomerValue.objects.filter(lead_id=OuterRef("pk"), currency=currency)
        return (
            super()
            .get_queryset(request)
            .annotate(
                net_minor=Subquery(
                    Buyer.objects.filter(lead_id=OuterRef("pk"), currency=currency).values("net_minor")[:1]
                ),
                predicted_minor=Subquery(value.values("predicted_value_minor")[:1]),
                p_alive=Subquery(value.values("p_alive")[:1]),
            )
        )

    @admin.display(description=f"Net ({settings.REPORTS_CURRENCY})", ordering=F("net_minor").desc(nulls_last=True))
    def net_value(self, obj: Lead) -> str:
        net = getattr(obj, "net_minor", None)
        return "—" if net is None else format_money(net, settings.REPORTS_CURRENCY)

    @admin.display(
        description=f"Predicted ({settings.REPORTS_CURRENCY})",
        ordering=F("predicted_minor").desc(nulls_last=True),
    )
    def predicted_value(self, obj: Lead) -> str:
        predicted = getattr(obj, "predicted_minor", None)
        return "—" if predicted is None else format_money(predicted, settings.REPORTS_CURRENCY)

    @admin.display(description="Activity", ordering=F("p_alive").desc(nulls_last=True))
    def activity(self, obj: Lead) -> SafeString | str:
        alive = getattr(obj, "p_alive", None)
        if alive is None:
            return "—"
        label = activity(alive)
        colour = {"likely active": "#15803d", "at risk": "#b45309"}.get(label, "#b91c1c")
        return format_html('<span style="color:{}" title="p(alive) {}">{}</span>', colour, f"{alive:.0%}", label)


admin.site.unregister(Lead)
admin.site.register(Lead, LeadValueAdmin)
