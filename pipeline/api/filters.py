"""Filtering, searching and ordering the lead list (django-filter); a bad value is a 400 naming its parameter."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ValidationError

from analytics.models import Buyer
from leads import scoring
from leads.models import Event, Lead, Stage
from offers.models import Order


class LeadFilter(django_filters.FilterSet):
    stage = django_filters.ModelChoiceFilter(queryset=Stage.objects.all(), help_text="A stage's id.")
    owner = django_filters.CharFilter(method="by_owner", help_text='A user id, "me" or "none".')
    tag = django_filters.CharFilter(field_name="tags__name", lookup_expr="exact", help_text="A tag's name.")
    score_min = django_filters.NumberFilter(method="by_score", help_text="Score now, at least.")
    score_max = django_filters.NumberFilter(method="by_score", help_text="Score now, at most.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    active_after = django_filters.IsoDateTimeFilter(field_name="last_activity_at", lookup_expr="gte")
    active_before = django_filters.IsoDateTimeFilter(field_name="last_activity_at", lookup_expr="lt")
    funnel = django_filters.NumberFilter(method="by_funnel", help_text="Leads with an event in this funnel (id).")
    has_purchased = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="by_purchase", help_text="Has (or has not) a paid order."
    )
    currency = django_filters.CharFilter(method="by_nothing", help_text="The currency value_min counts in.")
    value_min = django_filters.NumberFilter(
        method="by_value", help_text="Net revenue so far, in minor units of `currency`, at least."
    )
    q = django_filters.CharFilter(method="by_search", help_text="Part of the e-mail address or the name.")

    class Meta:
        model = Lead
        fields: list[str] = []

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        if valid and data.get("value_min") is not None and not (data.get("currency") or "").strip():
            self.form.add_error("currency", "Say which currency value_min is in, e.g. USD.")
            return False
        owner = (data.get("owner") or "").strip()
        if owner and owner not in ("me", "none") and not (owner.isdigit() and len(owner) <= 12):
            self.form.add_error("owner", 'Enter a user id, "me" or "none".')
            return False
        for name in ("score_min", "score_max", "value_min", "funnel"):
            value = data.get(name)
            if value is not None and (value != int(value) or abs(value) > 10**12):
                self.form.add_error(name, "Enter a whole number.")
                return False
        return valid

    def by_owner(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        value = value.strip()
        if value == "me":
            return queryset.filter(owner_id=self.request.user.pk if self.request else None)
        if value == "none":
            return queryset.filter(owner__isnull=True)
        return queryset.filter(owner_id=int(value))

    def by_score(self, queryset: QuerySet[Lead], name: str, value: Any) -> QuerySet[Lead]:
        if name == "score_min":
            return queryset.filter(scoring.score_q(minimum=int(value)))
        return queryset.filter(scoring.score_q(maximum=int(value)))

    def by_funnel(self, queryset: QuerySet[Lead], name: str, value: Any) -> QuerySet[Lead]:
        return queryset.filter(Exists(Event.objects.filter(lead=OuterRef("pk"), funnel_id=int(value))))

    def by_purchase(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        paid = Exists(Order.objects.filter(lead=OuterRef("pk"), paid_at__isnull=False))
        return queryset.filter(paid if value == "true" else ~Q(paid))

    def by_nothing(self, queryset: QuerySet[Lead], name: str, value: Any) -> QuerySet[Lead]:
        return queryset  # read by value_min

    def by_value(self, queryset: QuerySet[Lead], name: str, value: Any) -> QuerySet[Lead]:
        currency = (self.form.cleaned_data.get("currency") or "").strip().upper()
        rich = Buyer.objects.filter(lead_id=OuterRef("pk"), currency=currency, net_minor__gte=int(value))
        return queryset.filter(Exists(rich))

    def by_search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        words = value.strip()[:100]
        if not words:
            return queryset
        return queryset.filter(
            Q(email__icontains=words.lower()) | Q(first_name__icontains=words) | Q(last_name__icontains=words)
        )


class LeadOrdering(drf_filters.OrderingFilter):
    """``ordering``: created_at, score, email, each descending with a leading minus."""

    ordering_param = "ordering"
    ALIASES = {"created_at": "created_at", "score": "score_base", "email": "email"}

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> list[str]:
        raw = request.query_params.get(self.ordering_param, "").strip()
        if not raw:
            return ["-created_at", "-pk"]
        descending = raw.startswith("-")
        field = self.ALIASES.get(raw.lstrip("-"))
        if field is None:
            raise ValidationError(
                {"ordering": [f"Order by one of {', '.join(self.ALIASES)} (a minus for descending)."]}
            )
        sign = "-" if descending else ""
        return [sign + field, sign + "pk"]  # the id breaks ties, so the order is the same on every call

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        values = [*self.ALIASES, *(f"-{a}" for a in self.ALIASES)]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort order; default -created_at.",
                "schema": {"type": "string", "enum": ["", *values]},
            }
        ]
