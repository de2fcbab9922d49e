"""Server-side conversion destinations and their deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audiences.models import ConversionDelivery, ConversionDestination
from common.admin import ReadOnlyAdminMixin


class ConversionDestinationForm(forms.ModelForm):
    class Meta:
        model = ConversionDestination
        fields = [
            "name",
            "connection",
            "remote_id",
            "test_event_code",
            "send_leads",
            "send_purchases",
            "is_active",
        ]


@admin.register(ConversionDestination)
class ConversionDestinationAdmin(admin.ModelAdmin):
    """Where opt-ins and purchases are reported server-side, with what became of the last week's conversions."""

    form = ConversionDestinationForm
    list_display = ["name", "connection", "remote_id", "is_active", "week"]
    list_filter = ["connection__platform", "is_active"]
    list_select_related = ["connection"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversionDestination]:
        since = timezone.now() - dt.timedelta(days=7)
        counts = {
            status: Count("deliveries", filter=Q(deliveries__status=status, deliveries__created_at__gte=since))
            for status in ConversionDelivery.Status.values
        }
        return super().get_queryset(request).annotate(**counts)

    @admin.display(description="Last 7 days")
    def week(self, obj: Any) -> SafeString:
        parts = [(status, getattr(obj, status, 0)) for status in ConversionDelivery.Status.values]
        shown = [(f"conversion-{status}", f"{count} {status}") for status, count in parts if count]
        if not shown:
            return format_html("<span>{}</span>", "nothing yet")
        return format_html_join(" · ", '<span class="{}">{}</span>', shown)


@admin.register(ConversionDelivery)
class ConversionDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each conversion to each destination: sent with the platform's reference, dropped or failed with why."""

    list_display = ["event", "destination", "status", "attempts", "reason", "reference", "created_at", "finished_at"]
    list_filter = ["status", "destination"]
    list_select_related = ["event", "destination"]
    exclude = ["client"]
