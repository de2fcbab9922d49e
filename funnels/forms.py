"""The forms on hosted funnel pages. They check shape only; the services decide what is valid."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from funnels.models import Step


class OptinForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False, label="First name")
    email = forms.CharField(max_length=320, label="E-mail")
    # Hidden from people by CSS; bots fill every field they find.
    website = forms.CharField(required=False, label="Leave this empty")
    submission_id = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "invalid": "This form was changed or is out of date; reload the page and try again.",
            "required": "This form was changed or is out of date; reload the page and try again.",
        },
    )

    def __init__(self, *args: Any, step: Step, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("submission_id", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.step = step
        if step.ask_phone:
            self.fields["phone"] = forms.CharField(max_length=40, required=False, label="Phone (optional)")
        if step.consent_email_text:
            self.fields["consent_email"] = forms.BooleanField(required=False, label=step.consent_email_text)
        if step.consent_ads_text:
            self.fields["consent_ads"] = forms.BooleanField(required=False, label=step.consent_ads_text)
        self.fields["email"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})
        self.fields["first_name"].widget.attrs.update({"autocomplete": "given-name"})
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})

    def clean_website(self) -> str:
        value: str = self.cleaned_data.get("website", "")
        if value:
            raise forms.ValidationError("This field must be left empty.")
        return value


class AnswerForm(forms.Form):
    """Accept or decline on a sales or offer page."""

    outcome = forms.ChoiceField(choices=[("accept", "accept"), ("decline", "decline")])
    submission_id = forms.UUIDField(widget=forms.HiddenInput)


class CheckoutForm(forms.Form):
    """The order form's fields; the card itself never reaches Ladder (Stripe.js sends it to Stripe)."""

    submission_id = forms.UUIDField(
        error_messages={"invalid": "This form is out of date; reload the page.", "required": "Reload the page."}
    )
    bump = forms.BooleanField(required=False)
    coupon = forms.CharField(max_length=40, required=False, label="Coupon code")
    email = forms.CharField(max_length=320, required=False, label="E-mail")
    first_name = forms.CharField(max_length=100, required=False, label="First name")
