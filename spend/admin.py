"""Ad accounts (checked with their platform when saved), the imported campaign days, and costs entered by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from common.admin import ReadOnlyAdminMixin, csv_export
from common.forms import SecretFieldForm, major_to_minor, minor_to_major
from common.money import format_money
from common.tasks import enqueue_on_commit
from integrations.accounts import account_problems
from integrations.errors import IntegrationError
from spend import services, tasks
from spend.costs import MAX_BYTES, CostsRefused, costs_upload
from spend.models import AdAccount, CampaignDay, OtherCost, SpendImport


class AdAccountForm(SecretFieldForm):
    """Credentials are write-only (never shown again; blank keeps them) and are read with the platform when they,
    or the account, change: the account's name, currency and time zone come from that check."""

    class Meta:
        model = AdAccount
        fields = ["platform", "account_id", "login_customer_id", "credentials", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        changed = {"credentials", "account_id", "login_customer_id", "platform"} & set(self.changed_data)
        ids = {key: cleaned.get(key) or "" for key in ("account_id", "login_customer_id")}
        if account_problems(cleaned.get("platform") or "", **ids):
            return cleaned  # the model's validation names what to type; the platform is not asked about a bad id
        if not self.errors and (changed or not self.instance.pk):
            if not cleaned.get("credentials"):
                self.add_error("credentials", "Paste the credentials that can read this account's reports.")
                return cleaned
            probe = AdAccount(
                platform=cleaned.get("platform") or "",
                account_id=cleaned.get("account_id") or "",
                login_customer_id=cleaned.get("login_customer_id") or "",
                credentials=cleaned.get("credentials") or "",
            )
            try:  # read with the platform now: the form says what is wrong, in the platform's words
                info = services.account_check(account=probe)
            except IntegrationError as error:
                self.add_error("credentials" if "credentials" in self.changed_data else "account_id", str(error))
                return cleaned
            self.instance.name, self.instance.currency, self.instance.time_zone = (
                info.name[:200],
                info.currency,
                info.time_zone,
            )
            self.instance.paused_reason, self.instance.wait_until = "", None
        return cleaned


@admin.register(AdAccount)
class AdAccountAdmin(admin.ModelAdmin):
    form = AdAccountForm
    list_display = ["__str__", "platform", "account_id", "currency", "time_zone", "last_imported_at", "state"]
    list_filter = ["platform", "is_active"]
    readonly_fields = ["name", "currency", "time_zone", "paused_reason", "wait_until", "last_imported_at"]
    actions = ["import_recent", csv_export(["platform", "account_id", "name", "currency", "time_zone"], "ad-accounts")]

    @admin.display(description="State")
    def state(self, obj: AdAccount) -> str:
        if not obj.is_active:
            return "Off"
        if obj.paused_reason:
            return f"Paused: {obj.paused_reason}"
        if obj.wait_until:
            return f"Waiting until {obj.wait_until:%Y-%m-%d %H:%M} (the platform asked)"
        return "Importing nightly"

    @admin.action(description="Import the last 28 days now", permissions=["change"])
    def import_recent(self, request: HttpRequest, queryset: QuerySet[AdAccount]) -> None:
        queued = 0
        for account in queryset.filter(is_active=True, paused_reason=""):
            enqueue_on_commit(tasks.spend_import_account, account_pk=account.pk)
            queued += 1
        skipped = queryset.count() - queued
        self.message_user(request, f"{queued} import(s) queued; the rows appear under Campaign days when done.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} account(s) skipped: off or paused (save new credentials to resume).",
                messages.WARNING,
            )


@admin.register(CampaignDay)
class CampaignDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "account", "campaign_name", "campaign_id", "spend", "impressions", "clicks"]
    list_filter = ["account", "day"]
    search_fields = ["campaign_name", "campaign_id"]
    date_hierarchy = "day"
    actions = [
        csv_export(
            [
                "day",
                "account",
                "campaign_id",
                "campaign_name",
                "currency",
                "spend_minor",
                "impressions",
                "clicks",
                "platform_conversions",
                "platform_conversion_value_minor",
            ],
            "campaign-days",
        )
    ]

    @admin.display(description="Spend", ordering="spend_minor")
    def spend(self, obj: CampaignDay) -> str:
        return format_money(obj.spend_minor, obj.currency)


class OtherCostForm(forms.ModelForm):
    amount = forms.DecimalField(
        min_value=Decimal(0), max_digits=14, decimal_places=3, help_text="In the currency's units, e.g. 250.00."
    )

    class Meta:
        model = OtherCost
        fields = ["day", "source", "campaign", "amount", "currency", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["amount"] = minor_to_major(self.instance.amount_minor, self.instance.currency)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        amount, currency = cleaned.get("amount"), cleaned.get("currency")
        if amount is not None and currency:
            try:
                self.instance.amount_minor = major_to_minor(amount, currency, label="The amount")
            except forms.ValidationError as error:
                self.add_error("amount", error)
        return cleaned


class CostsUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row: date, source, campaign, amount, currency[, description].")


@admin.register(OtherCost)
class OtherCostAdmin(admin.ModelAdmin):
    form = OtherCostForm
    change_list_template = "admin/spend/othercost/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="spend_othercost_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload costs as CSV: every row checked first; a file with a bad row stores nothing."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CostsUploadForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                stored = costs_upload(upload.read(MAX_BYTES + 1))
            except CostsRefused as refused:
                problems = refused.problems
            else:
                self.message_user(request, f"{stored} cost(s) stored.")
                return redirect("admin:spend_othercost_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload other costs",
            "form": form,
            "problems": problems,
            "opts": self.model._meta,
        }
        return render(request, "admin/spend/othercost/upload.html", context, status=400 if problems else 200)

    list_display = ["day", "source", "campaign", "amount", "description"]
    list_filter = ["source"]
    search_fields = ["source", "campaign", "description"]
    date_hierarchy = "day"
    actions = [csv_export(["day", "source", "campaign", "currency", "amount_minor", "description"], "other-costs")]

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: OtherCost) -> str:
        return format_money(obj.amount_minor, obj.currency)


@admin.register(SpendImport)
class SpendImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["account", "since", "until", "status", "rows", "error", "started_at", "finished_at"]
    list_filter = ["status", "account"]
