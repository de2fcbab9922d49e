"""Form helpers shared by the admin of several apps."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from common.money import Money, UnknownCurrency, currency_exponent


def major_to_minor(value: Decimal, currency: str, *, label: str) -> int:
    """Convert an amount typed in major units to minor units, refusing more decimals than the currency has."""
    try:
        exponent = currency_exponent(currency)
    except UnknownCurrency as error:
        raise forms.ValidationError(str(error)) from None
    if value < 0:
        raise forms.ValidationError(f"{label} cannot be negative.")
    try:
        exact = value.quantize(Decimal(1).scaleb(-exponent))
    except InvalidOperation:
        raise forms.ValidationError(f"{label} is too large.") from None
    if exact != value:
        unit = "whole amounts" if exponent == 0 else f"at most {exponent} decimal places"
        raise forms.ValidationError(f"{currency} takes {unit}; {value} has more.")
    return Money.from_decimal(value, currency).amount_minor


def minor_to_major(amount_minor: int | None, currency: str) -> Decimal | None:
    if amount_minor is None:
        return None
    try:
        return Money(amount_minor, currency).to_decimal()
    except UnknownCurrency:
        return None


class SecretFieldForm(forms.ModelForm):
    """A model form whose ``credentials`` are write-only: the stored value is never shown, and blank keeps it."""

    credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste new credentials to replace the stored ones; leave blank to keep them.",
    )

    def clean_credentials(self) -> str:
        new_value: str = self.cleaned_data.get("credentials", "").strip()
        return new_value or (getattr(self.instance, "credentials", "") if self.instance.pk else "")
