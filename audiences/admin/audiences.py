"""Audiences in the admin: the rule, its preview and presets, members and growth, and a badge for their syncs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify

from audiences.admin.destinations import DestinationForm
from audiences.charts import size_chart
from audiences.health import COLOURS, destination_health, worst
from audiences.models import Audience, AudienceMember, AudienceSize, Destination
from audiences.presets import presets
from audiences.rules import rule_members, rule_problems
from common.tasks import enqueue_on_commit


class DestinationInline(admin.TabularInline):
    model = Destination
    form = DestinationForm
    extra = 0
    fields = ["name", "connection", "remote_audience_id", "mode", "is_active"]
    show_change_link = True


class AudienceForm(forms.ModelForm):
    rule = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "style": "font-family:monospace"}),
        help_text=(
            "Conditions: all / any / not; event (type, funnel, step, variant, offer, min_count, within_days or "
            "between, utm_source, utm_campaign); purchase (offer, product, role, not_refunded, within_days, "
            "min_amount_minor + currency); lead (country, region, postal_code_prefix, tags_any, stage, min_score, "
            "consent, created_within_days); revenue (top_percent, currency). Ids are shown in each list's admin."
        ),
    )

    class Meta:
        model = Audience
        fields = ["name", "slug", "description", "rule", "refresh_minutes"]

    def clean_refresh_minutes(self) -> int:
        minutes: int = self.cleaned_data["refresh_minutes"]
        if minutes < 5:
            raise forms.ValidationError("Rebuild at most every 5 minutes; live updates keep it current in between.")
        return minutes


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    form = AudienceForm
    list_display = ["name", "member_count", "refreshed_at", "rule_status", "sync_health"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["member_count", "refreshed_at", "rule_status", "growth", "preview"]
    inlines = [DestinationInline]
    actions = ["refresh_now"]
    change_form_template = "admin/audiences/audience/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        # the Syncs badge reads them all, with their connections
        return super().get_queryset(request).prefetch_related("destinations__connection")

    @admin.display(description="Syncs")
    def sync_health(self, obj: Audience) -> SafeString:
        """A badge with the worst state among the audience's destinations, and how many are in it."""
        states = [destination_health(d).state for d in obj.destinations.all()]
        state = worst(states)
        if state is None:
            return format_html("<em>{}</em>", "No destinations")
        label = f"{state} ({states.count(state)} of {len(states)})" if len(states) > 1 else state
        return format_html(
            '<span class="sync-badge sync-{}" style="color:#fff;background:{};padding:1px 6px;border-radius:8px">'
            "{}</span>",
            state,
            COLOURS[state],
            label,
        )

    def get_urls(self) -> list[Any]:
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="audiences_audience_preview"),
            path("sizes.csv", self.admin_site.admin_view(self.sizes_csv_view), name="audiences_audience_sizes_csv"),
            *super().get_urls(),
        ]

    def sizes_csv_view(self, request: HttpRequest) -> HttpResponse:
        """Every audience's size per day, as CSV (``since``/``until`` as YYYY-MM-DD limit the days)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        sizes = AudienceSize.objects.select_related("audience").order_by("audience__name", "day")
        for name, lookup in (("since", "day__gte"), ("until", "day__lt")):
            if value := request.GET.get(name, ""):
                try:
                    sizes = sizes.filter(**{lookup: dt.date.fromisoformat(value)})
                except ValueError:
                    return HttpResponse(f"{name} must be a date as YYYY-MM-DD.", status=400, content_type="text/plain")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["audience", "slug", "day", "size"])
        writer.writerows((size.audience.name, size.audience.slug, size.day, size.size) for size in sizes)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audience-sizes.csv"'
        return response

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The rule being edited, evaluated without saving: its problems, or the member count and 20 leads."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        problems: list[str] = []
        count, sample = 0, []
        try:
            rule = json.loads(request.POST.get("rule", ""))
        except json.JSONDecodeError as error:
            problems = [f"The rule is not JSON: {error.msg} (line {error.lineno}, column {error.colno})."]
        else:
            problems = rule_problems(rule)
            if not problems:
                members = rule_members(rule)
                count = members.count()
                sample = list(members.order_by("-created_at")[:20])
        context = {
            **self.admin_site.each_context(request),
            "title": "Audience preview",
            "opts": self.model._meta,
            "problems": problems,
            "count": count,
            "sample": sample,
        }
        return TemplateResponse(request, "admin/audiences/audience/preview.html", context)

    def get_fieldsets(self, request: HttpRequest, obj: Audience | None = None) -> Any:
        main = ["name", "slug", "description", "rule", "refresh_minutes"]
        if obj is None:
            return [(None, {"fields": ["start_from", *main]})]
        return [
            (None, {"fields": main}),
            ("Members", {"fields": ["member_count", "refreshed_at", "rule_status", "growth", "preview"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Audience | None = None) -> Any:
        return [*self.readonly_fields, "start_from"] if obj is None else self.readonly_fields

    @admin.display(description="Start from")
    def start_from(self, obj: Audience | None) -> SafeString:
        """One click on a standard audience fills in its name and rule; then edit them."""
        return format_html_join(
            "",
            '<p><a href="?preset={}">{}</a> — {}</p>',
            ((p.key, p.name, p.description) for p in presets()),
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        chosen = next((p for p in presets() if p.key == request.GET.get("preset")), None)
        if chosen is not None:
            initial.update({"name": chosen.name, "slug": slugify(chosen.name)[:100], "description": chosen.description})
            initial["rule"] = chosen.rule
        return initial

    def save_model(self, request: HttpRequest, obj: Audience, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        enqueue_on_commit("audiences.refresh", audience_pk=obj.pk)  # the due-refresh task catches up if lost

    @admin.display(description="Rule")
    def rule_status(self, obj: Audience) -> SafeString:
        if obj.rule_error:
            return format_html('<strong style="color:#b91c1c">{}</strong>', obj.rule_error)
        return format_html('<span style="color:#15803d">{}</span>', "OK")

    @admin.display(description="Growth (daily size)")
    def growth(self, obj: Audience) -> SafeString:
        return size_chart(list(obj.sizes.order_by("day").values_list("day", "size"))[-90:])

    @admin.display(description="Some members")
    def preview(self, obj: Audience) -> SafeString:
        rows = AudienceMember.objects.filter(audience=obj).select_related("lead").order_by("-since")[:20]
        if not rows:
            return format_html("<em>{}</em>", "No members yet: nobody matches the rule, or it has not run.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> since {}</li>',
                (
                    (reverse("admin:leads_lead_change", args=[m.lead_id]), m.lead.email, f"{m.since:%Y-%m-%d %H:%M}")
                    for m in rows
                ),
            ),
        )

    @admin.action(description="Rebuild the selected audiences now", permissions=["change"])
    def refresh_now(self, request: HttpRequest, queryset: Any) -> None:
        """Queued, not run in the request: a rebuild of a large audience takes longer than a page should wait."""
        for audience in queryset:
            enqueue_on_commit("audiences.refresh", audience_pk=audience.pk)
            self.message_user(
                request,
                f"{audience}: rebuild queued. Its member count and “Refreshed” update here when it is done (usually "
                "within a minute); a rule that no longer validates is shown on the audience.",
            )
