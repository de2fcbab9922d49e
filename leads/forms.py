from __future__ import annotations

from typing import Any

from django import forms

from leads.models import Lead
from leads.normalization import normalize_country, normalize_email, normalize_phone


class LeadForm(forms.ModelForm):
    """Normalizes what a person types so the database constraints never see an unnormalized value.

    E-mail and country are plain text here so that the normalizers, not Django's generic validators, say
    exactly what is wrong.
    """

    email = forms.CharField(max_length=320, help_text="Stored trimmed and lower-cased.")
    country = forms.CharField(max_length=60, required=False, help_text="ISO 3166-1 alpha-2, e.g. US.")

    class Meta:
        model = Lead
        fields = [
            "email",
            "phone",
            "first_name",
            "last_name",
            "country",
            "region",
            "city",
            "postal_code",
            "company_size",
            "stage",
            "owner",
            "tags",
        ]

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data.get("email", ""))

    def clean_country(self) -> str:
        return normalize_country(self.cleaned_data.get("country", ""))

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if "phone" in cleaned:
            try:
                cleaned["phone"] = normalize_phone(cleaned["phone"], default_country=cleaned.get("country", ""))
            except forms.ValidationError as error:
                self.add_error("phone", error)
        return cleaned
