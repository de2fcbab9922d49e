"""The offers admin: the catalogue (products, offers, coupons) here; orders, payments, refunds and Stripe's events in
``offers.admin.orders``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from common.forms import major_to_minor, minor_to_major
from offers.models import Coupon, CouponRedemption, Offer, Product


class OfferForm(forms.ModelForm):
    price = forms.DecimalField(
        max_digits=14, decimal_places=3, help_text="In the currency's main unit: 7 or 7.00 for seven dollars."
    )

    class Meta:
        model = Offer
        fields = ["product", "name", "slug", "role", "price", "currency", "asset_file", "asset_url", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["price"].initial = minor_to_major(self.instance.amount_minor, self.instance.currency)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        price: Decimal | None = cleaned.get("price")
        currency = cleaned.get("currency")
        if price is not None and currency:
            try:
                self.instance.amount_minor = major_to_minor(price, currency, label="Price")
            except forms.ValidationError as error:
                self.add_error("price", error)
        if cleaned.get("role") == Offer.Role.LEAD_MAGNET and price:
            self.add_error("price", "A lead magnet is free: set the price to 0.")
        return cleaned


class OfferInline(admin.TabularInline):
    model = Offer
    form = OfferForm
    extra = 0
    fields = ["name", "slug", "role", "price", "currency", "is_active"]
    show_change_link = True


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OfferInline]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    form = OfferForm
    list_display = ["name", "product", "role", "price_column", "is_active"]
    list_filter = ["role", "currency", "is_active", "product"]
    search_fields = ["name", "slug", "product__name"]
    list_select_related = ["product"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="Price", ordering="amount_minor")
    def price_column(self, obj: Offer) -> str:
        return obj.price_display


class CouponForm(forms.ModelForm):
    amount_off = forms.DecimalField(
        required=False, max_digits=14, decimal_places=3, help_text="For fixed coupons, in the currency's main unit."
    )

    class Meta:
        model = Coupon
        fields = [
            "code",
            "kind",
            "percent_off",
            "amount_off",
            "currency",
            "offers",
            "valid_from",
            "valid_until",
            "max_redemptions",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.amount_off_minor is not None:
            self.fields["amount_off"].initial = minor_to_major(self.instance.amount_off_minor, self.instance.currency)

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data.get("code", "").split()).upper()
        if not code.replace("-", "").replace("_", "").isalnum():
            raise forms.ValidationError("Use letters, digits, '-' and '_' only.")
        return code

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == Coupon.Kind.PERCENT:
            percent = cleaned.get("percent_off")
            if percent is None or not 1 <= percent <= 100:
                self.add_error("percent_off", "A percent coupon takes 1 to 100 per cent off.")
            if cleaned.get("amount_off") is not None:
                self.add_error("amount_off", "Leave empty for a percent coupon.")
            self.instance.amount_off_minor = None
        elif kind == Coupon.Kind.FIXED:
            amount, currency = cleaned.get("amount_off"), cleaned.get("currency")
            if cleaned.get("percent_off") is not None:
                self.add_error("percent_off", "Leave empty for a fixed-amount coupon.")
            if not currency:
                self.add_error("currency", "A fixed-amount coupon needs the currency of its amount.")
            if amount is None or amount <= 0:
                self.add_error("amount_off", "Enter the amount the coupon takes off.")
            elif currency:
                try:
                    self.instance.amount_off_minor = major_to_minor(amount, currency, label="Amount off")
                except forms.ValidationError as error:
                    self.add_error("amount_off", error)
        valid_from, valid_until = cleaned.get("valid_from"), cleaned.get("valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            self.add_error("valid_until", "The coupon must end after it starts.")
        maximum = cleaned.get("max_redemptions")
        if maximum is not None and self.instance.pk and maximum < self.instance.redemptions_count:
            self.add_error("max_redemptions", f"It has already been redeemed {self.instance.redemptions_count} times.")
        return cleaned


class CouponRedemptionInline(admin.TabularInline):
    model = CouponRedemption
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "order",
        "discount_minor",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponForm
    list_display = ["code", "discount_display", "redemptions", "valid_from", "valid_until", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code"]
    filter_horizontal = ["offers"]
    inlines = [CouponRedemptionInline]

    @admin.display(description="Redeemed")
    def redemptions(self, obj: Coupon) -> str:
        limit = "∞" if obj.max_redemptions is None else str(obj.max_redemptions)
        return f"{obj.redemptions_count} / {limit}"


from offers.admin import orders  # noqa: E402, F401  (registers the order, payment and refund admins)
