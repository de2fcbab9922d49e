"""Fulfilment in the admin: each offer's deliverables (a new file raises the version; links already sent keep
working and give the newest), who has access to what, and every download."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from common.admin import ReadOnlyAdminMixin, csv_export
from fulfilment.emails import email_resend
from fulfilment.models import Access, BuyerEmail, Deliverable, Download, FulfilmentSettings
from fulfilment.services import deliverable_grant_existing


class DeliverableForm(forms.ModelForm):
    class Meta:
        model = Deliverable
        fields = ["offer", "title", "kind", "file", "url", "text", "position", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        needed = {"file": "file", "link": "url", "text": "text"}.get(kind or "")
        if needed and not cleaned.get(needed):
            labels = {"file": "Upload the file.", "url": "Give the link.", "text": "Write the text."}
            self.add_error(needed, labels[needed])
        return cleaned


@admin.register(Deliverable)
class DeliverableAdmin(admin.ModelAdmin):
    form = DeliverableForm
    list_display = ["title", "offer", "kind", "version", "position", "is_active", "holders"]
    list_filter = ["kind", "is_active", "offer"]
    search_fields = ["title", "offer__name"]
    list_select_related = ["offer"]

    @admin.display(description="Buyers with access")
    def holders(self, obj: Deliverable) -> int:
        return obj.accesses.filter(revoked_at__isnull=True).count()

    def save_model(self, request: HttpRequest, obj: Deliverable, form: Any, change: bool) -> None:
        if change and "file" in form.changed_data:
            obj.version += 1
        super().save_model(request, obj, form, change)
        given = deliverable_grant_existing(deliverable=obj)
        if given:
            self.message_user(request, f"Given to {given} earlier buyer(s) of {obj.offer}.")


@admin.register(Access)
class AccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["deliverable", "lead", "order_line", "granted_at", "revoked_at", "downloads", "last_download_at"]
    list_filter = ["revoked_at", "deliverable__offer"]
    search_fields = ["lead__email", "deliverable__title"]
    list_select_related = ["deliverable", "lead", "order_line"]
    raw_id_fields = ["lead", "order_line"]
    actions = [csv_export(["deliverable", "lead", "order_line", "granted_at", "revoked_at", "downloads"], "accesses")]


@admin.register(Download)
class DownloadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["access", "at", "version", "ip_hash"]
    search_fields = ["access__lead__email"]
    list_select_related = ["access__deliverable"]
    actions = [csv_export(["access", "at", "version", "ip_hash"], "downloads")]


@admin.register(FulfilmentSettings)
class FulfilmentSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "revoke_on_refund", "link_hours"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BuyerEmail)
class BuyerEmailAdmin(admin.ModelAdmin):
    """Receipts and refund confirmations: what was sent to whom and when; support sends one again."""

    list_display = ["kind", "order", "lead", "status", "attempts", "created_at", "sent_at", "reason"]
    list_filter = ["kind", "status"]
    search_fields = ["lead__email", "order__public_id"]
    list_select_related = ["lead", "order"]
    readonly_fields = [f.name for f in BuyerEmail._meta.fields]
    actions = [
        "send_again",
        csv_export(["kind", "order", "status", "attempts", "created_at", "sent_at"], "buyer-emails"),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send the selected e-mails again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: Any) -> None:
        for email in queryset:
            email_resend(email=email)
        self.message_user(request, f"{queryset.count()} e-mail(s) queued to be sent again.")
