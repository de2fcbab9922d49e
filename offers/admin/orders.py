"""Orders, payments, refunds and Stripe's events in the admin: read-only records, and refunds asked for on an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from common.admin import ReadOnlyAdminMixin
from common.errors import ApplicationError
from common.forms import major_to_minor
from common.money import format_money
from offers.models import (
    Order,
    OrderLine,
    Payment,
    Refund,
    RefundRequest,
    StripeEvent,
)
from offers.payments import refund_request_create, refundable_minor


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderLineInline(_ReadOnlyInline):
    model = OrderLine
    fields = readonly_fields = (
        "description",
        "role",
        "amount_minor",
        "currency",
    )


class PaymentInline(_ReadOnlyInline):
    model = Payment
    fields = readonly_fields = (
        "stripe_payment_intent_id",
        "kind",
        "offer",
        "status",
        "amount_minor",
        "currency",
        "failure_code",
        "failure_message",
        "created_at",
    )


class RefundForm(forms.Form):
    """Refund one charge of an order, fully (leave the amount empty) or in part."""

    payment = forms.ModelChoiceField(queryset=Payment.objects.none(), empty_label=None, label="Charge")
    amount = forms.DecimalField(
        required=False, min_value=Decimal(0), max_digits=14, help_text="Empty: everything still refundable."
    )
    reason = forms.ChoiceField(choices=RefundRequest.Reason.choices)

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        refundable = [p for p in order.payments.filter(status=Payment.Status.SUCCEEDED) if refundable_minor(p) > 0]
        field = self.fields["payment"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 (declared above)
        field.queryset = Payment.objects.filter(pk__in=[p.pk for p in refundable])
        field.label_from_instance = lambda obj: (  # type: ignore[method-assign]
            f"{obj.stripe_payment_intent_id}: {format_money(obj.amount_minor, obj.currency)} paid, "
            f"{format_money(refundable_minor(obj), obj.currency)} refundable"
        )
        self.fields["amount"].label = f"Amount ({order.currency})"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        payment: Payment | None = data.get("payment")
        if payment is None:
            return data
        if data.get("amount") is None:
            data["amount_minor"] = refundable_minor(payment)
        else:
            try:
                data["amount_minor"] = major_to_minor(data["amount"], payment.currency, label="The amount")
            except forms.ValidationError as error:
                self.add_error("amount", error)
        return data


class RefundRequestInline(_ReadOnlyInline):
    model = RefundRequest
    fk_name = "payment"
    fields = readonly_fields = ("created_at", "amount_minor", "currency", "reason", "status", "error", "requested_by")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders are written by checkout and Stripe's webhooks, never by hand."""

    list_display = ["__str__", "buyer", "status", "total", "net_of_refunds", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["lead__email", "public_id"]
    date_hierarchy = "created_at"
    list_select_related = ["lead"]
    readonly_fields = (
        "public_id",
        "lead",
        "funnel_id",
        "status",
        "total",
        "discount",
        "refunded",
        "net_of_refunds",
        "coupon",
        "created_at",
        "paid_at",
        "deliveries",
    )
    fields = readonly_fields
    inlines = [OrderLineInline, PaymentInline]

    @admin.display(description="Lead", ordering="lead__email")
    def buyer(self, obj: Order) -> str:
        """The buyer's address, cut to fit the list (the order's page has it whole)."""
        return Truncator(obj.lead.email).chars(32)

    @admin.display(description="Delivered")
    def deliveries(self, obj: Order) -> str:
        """Where support sees what the buyer got: receipts (sent or not), each item's access and downloads. The page
        belongs to fulfilment, which sits above offers; it is reached by its URL's name."""
        url = reverse("admin:fulfilment_access_library", args=[obj.lead_id])
        return format_html('<a href="{}">Receipts, access and downloads: the buyer\'s library</a>', url)

    change_form_template = "admin/offers/order/change_form.html"

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view), name="offers_order_refund"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {**(extra_context or {}), "can_refund": request.user.has_perm("offers.add_refundrequest")}
        return super().change_view(request, object_id, form_url, context)

    def refund_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Ask Stripe to refund a charge; the refund is recorded when Stripe confirms it (see RefundRequest)."""
        if not request.user.has_perm("offers.add_refundrequest"):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("lead"), pk=pk)
        back = reverse("admin:offers_order_change", args=[order.pk])
        form = RefundForm(request.POST or None, order=order)
        if request.method == "POST" and form.is_valid():
            try:
                refund = refund_request_create(
                    payment=form.cleaned_data["payment"],
                    amount_minor=form.cleaned_data["amount_minor"],
                    reason=form.cleaned_data["reason"],
                    requested_by=request.user.get_username(),
                )
            except ApplicationError as refused:
                form.add_error("amount" if refused.field == "amount" else None, refused.message)
            else:
                refund.refresh_from_db()
                level = {"failed": messages.ERROR, "succeeded": messages.SUCCESS}.get(refund.status, messages.INFO)
                text = {
                    "succeeded": f"Refunded {format_money(refund.amount_minor, refund.currency)}.",
                    "failed": f"Stripe refused the refund: {refund.error}",
                }.get(refund.status, f"Refund of {format_money(refund.amount_minor, refund.currency)} sent to Stripe.")
                self.message_user(request, text, level)
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund {order}",
            "order": order,
            "form": form,
            "opts": self.model._meta,
            "back": back,
            "net": format_money(order.net_minor, order.currency),
        }
        return TemplateResponse(request, "admin/offers/order/refund.html", context)

    @admin.display(description="Total", ordering="total_minor")
    def total(self, obj: Order) -> str:
        return format_money(obj.total_minor, obj.currency)

    @admin.display(description="Discount")
    def discount(self, obj: Order) -> str:
        return format_money(obj.discount_minor, obj.currency)

    @admin.display(description="Refunded")
    def refunded(self, obj: Order) -> str:
        return format_money(obj.refunded_minor, obj.currency)

    @admin.display(description="Net of refunds")
    def net_of_refunds(self, obj: Order) -> str:
        return format_money(obj.net_minor, obj.currency)


class RefundInline(_ReadOnlyInline):
    model = Refund
    fields = readonly_fields = (
        "stripe_refund_id",
        "amount_minor",
        "currency",
        "reason",
        "created_at",
    )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["stripe_payment_intent_id", "order", "status", "amount", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["stripe_payment_intent_id", "order__lead__email"]
    list_select_related = ["order"]
    readonly_fields = tuple(f.name for f in Payment._meta.fields)
    inlines = [RefundInline, RefundRequestInline]

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Payment) -> str:
        return format_money(obj.amount_minor, obj.currency)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["stripe_refund_id", "payment", "amount", "reason", "created_at"]
    search_fields = ["stripe_refund_id", "payment__stripe_payment_intent_id"]
    readonly_fields = tuple(f.name for f in Refund._meta.fields)

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Refund) -> str:
        return format_money(obj.amount_minor, obj.currency)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every verified Stripe webhook, with what became of it; failed ones say why."""

    list_display = ["received_at", "type", "stripe_event_id", "status", "attempts", "error"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_event_id"]
    readonly_fields = tuple(f.name for f in StripeEvent._meta.fields)


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Refunds asked for from an order page, and what Stripe said."""

    list_display = ["created_at", "payment", "amount", "reason", "status", "error", "requested_by"]
    list_filter = ["status", "reason"]
    search_fields = ["payment__stripe_payment_intent_id", "payment__order__lead__email"]
    readonly_fields = tuple(f.name for f in RefundRequest._meta.fields)

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: RefundRequest) -> str:
        return format_money(obj.amount_minor, obj.currency)
