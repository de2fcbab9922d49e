"""Fulfilment in the admin: each offer's deliverables (a new file raises the version; links already sent keep
working and give the newest), who has access to what, and every download."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from common.admin import ReadOnlyAdminMixin, csv_export
from fulfilment.emails import email_message, email_resend
from fulfilment.models import Access, BuyerEmail, Deliverable, Download, FulfilmentSettings, ReceiptStyle
from fulfilment.services import deliverable_grant_existing, library_of
from leads.models import Lead
from offers.models import Order


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
    list_display = [
        "deliverable",
        "lead",
        "order_line",
        "granted_at",
        "revoked_at",
        "downloads",
        "last_download_at",
        "library_link",
    ]
    list_filter = ["revoked_at", "deliverable__offer"]
    search_fields = ["lead__email", "deliverable__title"]
    list_select_related = ["deliverable", "lead", "order_line"]
    raw_id_fields = ["lead", "order_line"]
    actions = [csv_export(["deliverable", "lead", "order_line", "granted_at", "revoked_at", "downloads"], "accesses")]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.library_view)
        return [path("library/<int:lead_id>/", view, name="fulfilment_access_library"), *super().get_urls()]

    @admin.display(description="Library")
    def library_link(self, obj: Access) -> str:
        url = reverse("admin:fulfilment_access_library", args=[obj.lead_id])
        return format_html('<a href="{}">as the buyer sees it</a>', url)

    def library_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        """A buyer's library as they see it, with what support needs beside it: every receipt and its state, and
        each item's downloads."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None:
            raise Http404("There is no such lead.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Library of {lead.email}",
            "lead": lead,
            "entries": library_of(lead_id=lead.pk),
            "emails": BuyerEmail.objects.filter(lead=lead).order_by("-created_at")[:50],
        }
        return render(request, "admin/fulfilment/library.html", context)


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

    list_display = ["kind", "order", "lead", "status", "sent_at", "delivered_at", "opened_at", "reason"]
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


class ReceiptStyleForm(forms.ModelForm):
    class Meta:
        model = ReceiptStyle
        fields = ["funnel", "subject", "intro", "closing", "accent", "logo_url"]

    def clean_funnel(self) -> Any:
        funnel = self.cleaned_data.get("funnel")
        others = ReceiptStyle.objects.exclude(pk=self.instance.pk)
        if funnel is None and others.filter(funnel__isnull=True).exists():
            raise forms.ValidationError("There is a default style already; choose a funnel, or change that one.")
        return funnel


@admin.register(ReceiptStyle)
class ReceiptStyleAdmin(admin.ModelAdmin):
    form = ReceiptStyleForm
    list_display = ["__str__", "subject", "accent", "preview_link"]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/preview/", view, name="fulfilment_receiptstyle_preview"), *super().get_urls()]

    @admin.display(description="Preview")
    def preview_link(self, obj: ReceiptStyle) -> str:
        return format_html(
            '<a href="{}">see a receipt</a>', reverse("admin:fulfilment_receiptstyle_preview", args=[obj.pk])
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The receipt of the latest paid order of the style's funnel (any funnel's, for the default), as the buyer
        gets it: the HTML, and the plain text under it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        style = ReceiptStyle.objects.filter(pk=pk).first()
        if style is None:
            raise Http404("There is no such style.")
        orders = Order.objects.exclude(paid_at=None).order_by("-paid_at")
        if style.funnel_id:
            orders = orders.filter(funnel_id=style.funnel_id)
        order = orders.select_related("lead").first()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview: {style}",
            "style": style,
        }
        if order is not None:
            payment = order.payments.order_by("created_at", "pk").first()
            sample = BuyerEmail(kind=BuyerEmail.Kind.RECEIPT, lead=order.lead, order=order, payment=payment)
            message = email_message(sample)
            context.update(order=order, subject=message.subject, text=message.body, html=message.alternatives[0][0])
        return render(request, "admin/fulfilment/receipt_preview.html", context)
