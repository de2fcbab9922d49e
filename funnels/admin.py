from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from funnels import selectors, services
from funnels.diagram import funnel_svg
from funnels.models import Funnel, Route, Step, Variant
from funnels.validation import Problem, blocking_problems
from leads.normalization import normalize_country


def _funnel_id_from(request: HttpRequest) -> int | None:
    match = request.resolver_match
    object_id = match.kwargs.get("object_id") if match else None
    try:
        return int(object_id) if object_id else None
    except ValueError:
        return None


class _SameFunnelStepsMixin:
    """Step pickers on the funnel page list only this funnel's steps."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Step:
            funnel_id = _funnel_id_from(request)
            kwargs["queryset"] = Step.objects.filter(funnel_id=funnel_id) if funnel_id else Step.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class _LiveFunnelWouldBreak(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))


class _LiveFunnelGuardMixin:
    """A live funnel stays publishable: a save that would break it is rolled back and explained.

    The admin saves the form and its inlines inside one ``transaction.atomic`` block; raising out of it
    after the inlines are saved undoes the whole edit, and the view then explains why.
    """

    funnel_attribute = ""  # where the edited object keeps its funnel; "" when it is the funnel

    def _funnel_of(self, obj: Any) -> Funnel:
        return getattr(obj, self.funnel_attribute) if self.funnel_attribute else obj

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        funnel = self._funnel_of(form.instance)
        funnel.refresh_from_db(fields=["status"])
        if funnel.status == Funnel.Status.LIVE:
            found = services.funnel_blocking_problems(funnel=funnel)
            if found:
                raise _LiveFunnelWouldBreak(found)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except _LiveFunnelWouldBreak as refusal:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Not saved: the funnel is live and this change would break it. Unpublish it first, or fix: {refusal}",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.path)


# Offered for a new step: an opt-in step should ask both consents, in words a visitor understands.
DEFAULT_EMAIL_CONSENT = "Send me the download and occasional tips by e-mail (unsubscribe at any time)."
DEFAULT_ADS_CONSENT = "Show me relevant offers on Facebook, Instagram and Google (withdraw at any time)."


STEP_ROW_FIELDS = [
    "position",
    "name",
    "slug",
    "kind",
    "offer",
    "bump_offer",
    "headline",
    "accept_label",
    "decline_label",
    "consent_email_text",
    "consent_ads_text",
]


class StepInlineForm(forms.ModelForm):
    """The funnel page's step row: an opt-in step's consent wordings are edited here too, offered by default."""

    class Meta:
        model = Step
        fields = STEP_ROW_FIELDS
        widgets = {
            "consent_email_text": forms.Textarea(attrs={"rows": 2, "cols": 28}),
            "consent_ads_text": forms.Textarea(attrs={"rows": 2, "cols": 28}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["consent_email_text"].initial = DEFAULT_EMAIL_CONSENT
            self.fields["consent_ads_text"].initial = DEFAULT_ADS_CONSENT

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("kind") and cleaned["kind"] != Step.Kind.OPTIN:
            cleaned["consent_email_text"] = cleaned["consent_ads_text"] = ""  # only opt-in steps show checkboxes
        return cleaned


class StepInline(admin.TabularInline):
    model = Step
    form = StepInlineForm
    extra = 0
    fields = list(STEP_ROW_FIELDS)
    show_change_link = True
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["offer", "bump_offer"]


class RouteInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[tuple[int, str]] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            from_step, outcome, to_step = (form.cleaned_data.get(k) for k in ("from_step", "outcome", "to_step"))
            if from_step and to_step and from_step == to_step:
                form.add_error("to_step", "A route cannot lead back to the step it starts from.")
            if from_step and outcome:
                if (from_step.pk, outcome) in seen:
                    form.add_error("outcome", f"“{from_step.name}” already has an {outcome} route.")
                seen.add((from_step.pk, outcome))


class RouteInline(_SameFunnelStepsMixin, admin.TabularInline):
    model = Route
    formset = RouteInlineFormSet
    extra = 0
    fields = ["from_step", "outcome", "to_step"]
    verbose_name_plural = "Routes (save new steps first, then connect them here)"


class FunnelForm(forms.ModelForm):
    class Meta:
        model = Funnel
        fields = ["name", "slug", "currency", "default_country", "entry_step", "allowed_origins", "eea_rules"]

    def clean_default_country(self) -> str:
        return normalize_country(self.cleaned_data.get("default_country", ""))

    def clean_allowed_origins(self) -> str:
        origins = []
        for line in self.cleaned_data.get("allowed_origins", "").splitlines():
            text = line.strip().rstrip("/")
            if not text:
                continue
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise forms.ValidationError(
                    f"{text!r} is not an origin: write the scheme and host only, e.g. https://www.example.com."
                )
            origins.append(f"{parts.scheme}://{parts.netloc}".lower())
        return "\n".join(origins)


@admin.register(Funnel)
class FunnelAdmin(_LiveFunnelGuardMixin, _SameFunnelStepsMixin, admin.ModelAdmin):
    form = FunnelForm
    list_display = ["name", "slug", "status_badge", "currency", "step_count", "published_at"]
    list_filter = ["status", "currency"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["status_badge", "published_at", "problems", "public_key"]
    fieldsets = [
        (None, {"fields": [("name", "slug"), ("currency", "default_country"), "entry_step"]}),
        ("State", {"fields": [("status_badge", "published_at"), "problems"]}),
        (
            "Embedding on other sites",
            {
                "fields": ["public_key", "allowed_origins", "eea_rules"],
                "description": "Forms and beacons on your own sites post to /api/v1/optins and /api/v1/events "
                "with this key (documented at /api/docs/).",
            },
        ),
    ]
    inlines = [StepInline, RouteInline]
    actions = ["publish_selected", "unpublish_selected", "clone_selected"]
    change_form_template = "admin/funnels/funnel/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Funnel]:
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="Steps", ordering="step_total")
    def step_count(self, obj: Funnel) -> int:
        return getattr(obj, "step_total", 0)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Funnel) -> SafeString:
        colour = "#15803d" if obj.status == Funnel.Status.LIVE else "#64748b"
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.get_status_display())

    @admin.display(description="Ready to publish")
    def problems(self, obj: Funnel) -> SafeString:
        if obj.pk is None:
            return format_html("<em>{}</em>", "Save the funnel, then add steps and routes.")
        found = services.funnel_problems(funnel=obj)
        if not found:
            return format_html('<span style="color:#15803d">{}</span>', "Yes: every path reaches a thank-you step.")
        verdict = "No, fix these first:" if any(p.blocking for p in found) else "Yes, with warnings:"
        items = format_html_join(
            "",
            '<li style="color:{}">{}</li>',
            (("#b91c1c" if p.blocking else "#b45309", str(p)) for p in found),
        )
        return format_html('<strong>{}</strong><ul style="margin:0">{}</ul>', verdict, items)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        funnel = self.get_object(request, object_id)
        extra = {"funnel_diagram": self.diagram(funnel)} if funnel is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def diagram(self, obj: Funnel) -> SafeString:
        graph = selectors.funnel_graph(funnel=obj)
        problem_steps = {p.step for p in blocking_problems(graph) if p.step}
        svg = funnel_svg(graph, problem_steps=problem_steps)
        report = reverse("reports-funnel", kwargs={"slug": obj.slug})
        # funnel_svg escapes every piece of stored text it places in the picture; the slug is a SlugField.
        return mark_safe(  # noqa: S308
            f'<div style="overflow-x:auto">{svg}</div>'
            f"<p><a href=\"{report}\">This funnel's numbers: each step's visitors, conversion and revenue, and "
            "its split tests →</a></p>"
        )

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/publish/", wrap(self.publish_view), name="funnels_funnel_publish"),
            path("<int:pk>/unpublish/", wrap(self.unpublish_view), name="funnels_funnel_unpublish"),
            path("<int:pk>/clone/", wrap(self.clone_view), name="funnels_funnel_clone"),
            *super().get_urls(),
        ]

    def _change_url(self, funnel: Funnel) -> str:
        return reverse("admin:funnels_funnel_change", args=[funnel.pk])

    def _require(self, request: HttpRequest, allowed: bool) -> None:
        if not allowed:
            raise PermissionDenied

    def _publish(self, request: HttpRequest, funnel: Funnel) -> bool:
        try:
            services.funnel_publish(funnel=funnel)
        except services.FunnelInvalid as error:
            self.message_user(request, f"“{funnel.name}” was not published: {error.message}", messages.ERROR)
            return False
        self.message_user(request, f"“{funnel.name}” is live.", messages.SUCCESS)
        return True

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        funnel = get_object_or_404(Funnel, pk=pk)
        self._require(request, self.has_change_permission(request, funnel))
        self._publish(request, funnel)
        return HttpResponseRedirect(self._change_url(funnel))

    def unpublish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        funnel = get_object_or_404(Funnel, pk=pk)
        self._require(request, self.has_change_permission(request, funnel))
        services.funnel_unpublish(funnel=funnel)
        self.message_user(request, f"“{funnel.name}” is a draft again; visitors see a 404 page.", messages.WARNING)
        return HttpResponseRedirect(self._change_url(funnel))

    def clone_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        funnel = get_object_or_404(Funnel, pk=pk)
        self._require(request, self.has_add_permission(request))
        copy = services.funnel_clone(funnel=funnel)
        self.message_user(request, f"Cloned into “{copy.name}” ({copy.slug}), a draft.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(copy))

    @admin.action(description="Publish selected funnels", permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Funnel]) -> None:
        for funnel in queryset:
            self._publish(request, funnel)

    @admin.action(description="Unpublish selected funnels", permissions=["change"])
    def unpublish_selected(self, request: HttpRequest, queryset: QuerySet[Funnel]) -> None:
        for funnel in queryset:
            services.funnel_unpublish(funnel=funnel)
        self.message_user(request, f"{queryset.count()} funnel(s) are drafts now.", messages.WARNING)

    @admin.action(description="Clone selected funnels", permissions=["add"])
    def clone_selected(self, request: HttpRequest, queryset: QuerySet[Funnel]) -> None:
        for funnel in queryset:
            copy = services.funnel_clone(funnel=funnel)
            self.message_user(request, f"Cloned “{funnel.name}” into {copy.slug}.", messages.SUCCESS)


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["name", "weight", "headline", "body", "bullets", "accept_label", "decline_label"]


@admin.register(Step)
class StepAdmin(_LiveFunnelGuardMixin, admin.ModelAdmin):
    """Where a step's page content and its split-test variants are edited."""

    funnel_attribute = "funnel"

    list_display = ["name", "funnel", "kind", "offer", "position"]
    readonly_fields = ["split_test_results"]
    list_filter = ["kind", "funnel"]
    search_fields = ["name", "funnel__name"]
    list_select_related = ["funnel", "offer"]
    autocomplete_fields = ["offer", "bump_offer"]
    fieldsets = [
        (None, {"fields": ["funnel", ("name", "slug"), ("kind", "position")]}),
        ("Offer", {"fields": [("offer", "bump_offer")]}),
        ("Page", {"fields": ["headline", "body", "bullets", "image", ("accept_label", "decline_label")]}),
        ("Opt-in form", {"fields": ["consent_email_text", "consent_ads_text", "ask_phone"], "classes": ["collapse"]}),
        ("Split test", {"fields": ["split_test_results"]}),
    ]
    inlines = [VariantInline]

    @admin.display(description="Results by variant")
    def split_test_results(self, obj: Step) -> SafeString:
        if not obj.pk or obj.variants.count() < 2:
            return format_html("<em>{}</em>", "No split test: add two or more variants below to test this page.")
        url = reverse("reports-funnel", kwargs={"slug": obj.funnel.slug})
        return format_html(
            '<a href="{}#split-{}">Each variant\'s visitors, conversions and net revenue per visitor, with the '
            "verdict →</a>",
            url,
            obj.slug,
        )
