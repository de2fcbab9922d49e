"""Connections in the admin: the accounts audiences and conversions are sent to, their credentials (write-only and
checked with the platform when saved) and whether they are paused or waiting."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audiences.connections import connection_check, credentials_verify
from audiences.models import Connection
from common.forms import SecretFieldForm
from integrations.errors import IntegrationError

WEBHOOK_SECRET_MIN = 16


class ConnectionForm(SecretFieldForm):
    """Credentials are write-only (the form never shows the stored value, and blank keeps it) and are checked with
    the platform when they, or the account, change; new credentials that work resume a paused connection."""

    endpoint_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Signed webhook: where batches are POSTed (https).",
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "platform",
            "account_id",
            "login_customer_id",
            "google_api",
            "endpoint_url",
            "credentials",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        secret = cleaned.get("credentials", "")
        if cleaned.get("platform") == Connection.Platform.WEBHOOK and len(secret) < WEBHOOK_SECRET_MIN:
            self.add_error(
                "credentials",
                f"A signed webhook needs a signing secret of at least {WEBHOOK_SECRET_MIN} characters, shared with "
                "its receiver.",
            )
        typed = bool((self.data.get(self.add_prefix("credentials")) or "").strip())  # blank keeps the stored ones
        changed = {"account_id", "login_customer_id", "google_api", "platform"} & set(self.changed_data)
        if secret and not self.errors and (typed or changed or not self.instance.pk):
            # Checked with the platform when they, or the account, change: the form says what is wrong.
            probe = Connection(
                platform=cleaned.get("platform") or "",
                account_id=cleaned.get("account_id", ""),
                login_customer_id=cleaned.get("login_customer_id", ""),
                google_api=cleaned.get("google_api") or Connection.GoogleApi.DATA_MANAGER,
                credentials=secret,
            )
            try:
                credentials_verify(probe)
            except IntegrationError as error:
                self.add_error("credentials" if "credentials" in self.changed_data else "account_id", str(error))
            else:
                self.instance.paused_reason, self.instance.checked_at = "", timezone.now()
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "platform", "account_id", "state", "used_by", "checked_at"]
    list_filter = ["platform", "is_active"]
    search_fields = ["name", "account_id"]
    readonly_fields = ["state", "paused_reason", "wait_until", "checked_at"]
    actions = ["check_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                audience_count=Count("destinations", distinct=True),
                conversion_count=Count("conversion_destinations", distinct=True),
            )
        )

    @admin.display(description="State")
    def state(self, obj: Connection) -> SafeString:
        held = obj.held_because()
        colour = "#15803d" if not held else "#6b7280" if not obj.is_active else "#b91c1c"
        return format_html('<span class="connection-state" style="color:{}">{}</span>', colour, held or "Sending")

    @admin.display(description="Used by")
    def used_by(self, obj: Connection) -> str:
        audiences = getattr(obj, "audience_count", 0)
        conversions = getattr(obj, "conversion_count", 0)
        return f"{audiences} audience destination(s), {conversions} conversion destination(s)"

    @admin.action(
        description="Check the credentials now (a paused connection whose credentials work resumes)",
        permissions=["change"],
    )
    def check_now(self, request: HttpRequest, queryset: Any) -> None:
        for connection in queryset:
            outcome = connection_check(connection)
            if outcome is True:
                self.message_user(request, f"{connection}: the credentials reach the account; it is sending.")
            elif outcome is False:
                self.message_user(request, f"{connection}: paused. {connection.paused_reason}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{connection}: the platform could not be asked now; try again later.", messages.WARNING
                )
