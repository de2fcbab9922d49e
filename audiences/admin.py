from __future__ import annotations

from django import forms
from django.contrib import admin

from audiences.models import Audience, Destination


class DestinationForm(forms.ModelForm):
    """Credentials are write-only: the form never shows the stored value, and blank keeps it."""

    credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste a new token to replace the stored one; leave blank to keep it.",
    )

    class Meta:
        model = Destination
        fields = [
            "audience",
            "name",
            "platform",
            "account_id",
            "remote_audience_id",
            "credentials",
            "mode",
            "is_active",
        ]

    def clean_credentials(self) -> str:
        new_value: str = self.cleaned_data.get("credentials", "").strip()
        return new_value or (self.instance.credentials if self.instance.pk else "")


class DestinationInline(admin.TabularInline):
    model = Destination
    form = DestinationForm
    extra = 0
    fields = ["name", "platform", "account_id", "remote_audience_id", "mode", "is_active"]
    show_change_link = True


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [DestinationInline]


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = ["name", "audience", "platform", "mode", "has_credentials", "is_active"]
    list_filter = ["platform", "mode", "is_active"]
    list_select_related = ["audience"]

    @admin.display(description="Credentials", boolean=True)
    def has_credentials(self, obj: Destination) -> bool:
        return bool(obj.credentials)
