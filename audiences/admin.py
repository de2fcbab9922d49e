from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify

from audiences.charts import size_chart
from audiences.health import COLOURS, Health, destination_health, run_summary, worst
from audiences.models import Audience, AudienceMember, AudienceSize, Destination, SyncBatch, SyncRun
from audiences.presets import presets
from audiences.rules import rule_members, rule_problems
from audiences.sync import credentials_verify, destination_busy, destination_sync
from common.admin import ReadOnlyAdminMixin
from common.forms import SecretFieldForm
from common.tasks import enqueue_on_commit
from integrations.errors import IntegrationError


class DestinationForm(SecretFieldForm):
    """Credentials are write-only (the form never shows the stored value, and blank keeps it) and are checked with
    the platform when they, or the account, change."""

    endpoint_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Signed webhook: where batches are POSTed (https).",
    )

    class Meta:
        model = Destination
        fields = [
            "audience",
            "name",
            "platform",
            "account_id",
            "google_api",
            "login_customer_id",
            "remote_audience_id",
            "endpoint_url",
            "credentials",
            "mode",
            "value_based",
            "value_currency",
            "schedule_minutes",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        secret = cleaned.get("credentials", "")
        if cleaned.get("platform") == Destination.Platform.WEBHOOK and len(secret) < 16:
            self.add_error(
                "credentials",
                "A signed webhook needs a signing secret of at least 16 characters, shared with its receiver.",
            )
        platform = cleaned.get("platform")
        changed = {"credentials", "account_id", "login_customer_id", "google_api", "platform"} & set(self.changed_data)
        if secret and not self.errors and (changed or not self.instance.pk):
            # A token is checked with its platform when it, or its account, changes: the form says what is wrong.
            try:
                probe = Destination(
                    platform=platform or "",
                    account_id=cleaned.get("account_id", ""),
                    login_customer_id=cleaned.get("login_customer_id", ""),
                    google_api=cleaned.get("google_api") or Destination.GoogleApi.DATA_MANAGER,
                    credentials=secret,
                )
                credentials_verify(probe)
            except IntegrationError as error:
                self.add_error("credentials" if "credentials" in self.changed_data else "account_id", str(error))
        return cleaned


class DestinationInline(admin.TabularInline):
    model = Destination
    form = DestinationForm
    extra = 0
    fields = ["name", "platform", "account_id", "remote_audience_id", "mode", "is_active"]
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
        return super().get_queryset(request).prefetch_related("destinations")  # the Syncs badge reads them all

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


class SyncBatchInline(admin.TabularInline):
    model = SyncBatch
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "kind",
        "size",
        "accepted",
        "invalid",
        "reasons",
        "remote_status",
        "error",
        "attempts",
        "duration_ms",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every sync: what the diff found, what was sent, what the platform said (never identifiers)."""

    list_display = ["started_at", "destination", "status", "dry_run", "to_add", "to_remove", "accepted", "invalid"]
    list_filter = ["status", "dry_run", "destination__platform"]
    list_select_related = ["destination"]
    readonly_fields = tuple(f.name for f in SyncRun._meta.fields)
    inlines = [SyncBatchInline]


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = ["name", "audience", "platform", "health", "last_success", "next_run"]  # the rest: on its page
    list_filter = ["platform", "mode", "is_active"]
    list_select_related = ["audience"]
    readonly_fields = ["health", "last_success", "next_run", "last_synced_at", "wait_until"]
    actions = ["sync_now", "dry_run"]

    @admin.display(description="Credentials", boolean=True)
    def has_credentials(self, obj: Destination) -> bool:
        return bool(obj.credentials)

    @staticmethod
    def _health(obj: Destination) -> Health:
        """Computed once per row: three columns read it."""
        if not hasattr(obj, "_health"):
            obj._health = destination_health(obj)  # type: ignore[attr-defined]
        return obj._health  # type: ignore[attr-defined]

    @admin.display(description="Last sync")
    def health(self, obj: Destination) -> SafeString:
        found = self._health(obj)
        return format_html(
            '<span class="sync-health sync-{}" style="color:{}">{}</span>',
            found.state,
            COLOURS[found.state],
            found.text,
        )

    @admin.display(description="Last success")
    def last_success(self, obj: Destination) -> str:
        run = self._health(obj).last_success
        if run is None:
            return "—"
        return run_summary(run)

    @admin.display(description="Next run")
    def next_run(self, obj: Destination) -> str:
        due = self._health(obj).next_run
        return "paused until switched on" if due is None else f"{timezone.localtime(due):%Y-%m-%d %H:%M}"

    @admin.action(description="Sync the selected destinations now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: Any) -> None:
        """Queued, not run in the request: a first sync of a large audience sends for minutes. Its run reports back
        in the sync runs (and the health column here)."""
        for destination in queryset.select_related("audience"):
            if destination_busy(destination):
                busy = f"{destination} is being synced right now; try again in a minute."
                self.message_user(request, busy, messages.WARNING)
                continue
            enqueue_on_commit("audiences.sync", destination_pk=destination.pk)
            runs = reverse("admin:audiences_syncrun_changelist") + f"?destination__id__exact={destination.pk}"
            self.message_user(
                request,
                format_html('{}: sync queued. <a href="{}">Its run</a> shows what was sent.', destination, runs),
            )

    @admin.action(description="Dry run: count and preview, send nothing", permissions=["change"])
    def dry_run(self, request: HttpRequest, queryset: Any) -> None:
        """Counted in the request (it sends nothing and previews a few rows), so the answer is on the page."""
        for destination in queryset.select_related("audience"):
            run = destination_sync(destination=destination, dry_run=True)
            text = f"{destination}: {run.to_add} to add, {run.to_remove} to remove; would send {run.to_add}."
            if run.status == SyncRun.Status.FAILED:
                self.message_user(request, f"{destination}: {run.error}", messages.ERROR)
            else:
                self.message_user(request, text)
