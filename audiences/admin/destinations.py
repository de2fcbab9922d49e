"""Destinations in the admin: which connection an audience goes through, each one's health, its runs; sync now."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audiences.health import COLOURS, Health, destination_health, run_summary
from audiences.models import Destination, SyncBatch, SyncRun
from audiences.sync import destination_busy, destination_sync
from common.admin import ReadOnlyAdminMixin
from common.tasks import enqueue_on_commit


class DestinationForm(forms.ModelForm):
    class Meta:
        model = Destination
        fields = [
            "audience",
            "name",
            "connection",
            "remote_audience_id",
            "mode",
            "value_based",
            "value_currency",
            "schedule_minutes",
            "is_active",
        ]


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
    list_filter = ["status", "dry_run", "destination__connection__platform"]
    list_select_related = ["destination"]
    readonly_fields = tuple(f.name for f in SyncRun._meta.fields)
    inlines = [SyncBatchInline]


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = ["name", "audience", "connection", "health", "last_success", "next_run"]  # the rest: on its page
    list_filter = ["connection__platform", "mode", "is_active"]
    list_select_related = ["audience", "connection"]
    readonly_fields = ["health", "last_success", "next_run", "last_synced_at"]
    actions = ["sync_now", "dry_run"]

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
        if due is None:
            return "paused until switched on" if not obj.is_active else "paused until its connection sends again"
        return f"{timezone.localtime(due):%Y-%m-%d %H:%M}"

    @admin.action(description="Sync the selected destinations now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: Any) -> None:
        """Queued, not run in the request: a first sync of a large audience sends for minutes. Its run reports back
        in the sync runs (and the health column here)."""
        for destination in queryset.select_related("audience", "connection"):
            if held := destination.connection.held_because():
                self.message_user(request, f"{destination}: not queued. {held}", messages.WARNING)
                continue
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
        for destination in queryset.select_related("audience", "connection"):
            run = destination_sync(destination=destination, dry_run=True)
            text = f"{destination}: {run.to_add} to add, {run.to_remove} to remove; would send {run.to_add}."
            if run.status == SyncRun.Status.FAILED:
                self.message_user(request, f"{destination}: {run.error}", messages.ERROR)
            else:
                self.message_user(request, text)
