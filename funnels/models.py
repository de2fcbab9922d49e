from __future__ import annotations

import secrets

from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import F, Q

from common.fields import CurrencyField
from offers.models import Offer


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


class Funnel(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True, help_text="Part of the page address: /f/{slug}/{step}/.")
    currency = CurrencyField(default="USD")
    default_country = models.CharField(
        max_length=2, blank=True, help_text="ISO country used for phone numbers typed without +country code."
    )
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.DRAFT, editable=False)
    entry_step = models.ForeignKey(
        "Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Where visitors start."
    )
    public_key = models.CharField(
        max_length=40,
        unique=True,
        default=new_public_key,
        editable=False,
        help_text="Identifies this funnel to forms and beacons embedded on other sites. Not a secret.",
    )
    allowed_origins = models.TextField(
        blank=True,
        help_text="Sites allowed to post opt-ins and events to the API, one per line, e.g. https://www.example.com.",
    )
    eea_rules = models.BooleanField(
        default=True,
        help_text="Treat visitors as covered by EEA/UK rules (explicit consent) unless their country says otherwise.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="funnel_currency_iso")]

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/").lower() for line in self.allowed_origins.splitlines() if line.strip()]


class Step(models.Model):
    class Kind(models.TextChoices):
        OPTIN = "optin", "Opt-in"
        SALES = "sales", "Sales page"
        ORDER_FORM = "order_form", "Order form"
        UPSELL = "upsell", "Upsell"
        DOWNSELL = "downsell", "Downsell"
        CROSS_SELL = "cross_sell", "Cross-sell"
        THANK_YOU = "thank_you", "Thank you"

    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the admin; routes decide the path.")
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="steps")
    bump_offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bump_steps",
        help_text="Order forms only: the one-tick add-on shown under the main offer.",
    )
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    bullets = models.TextField(blank=True, help_text="One bullet per line.")
    image = models.FileField(
        upload_to="steps/", blank=True, validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif", "webp"])]
    )
    accept_label = models.CharField(max_length=80, blank=True, help_text="e.g. 'Yes, add it to my order'.")
    decline_label = models.CharField(max_length=80, blank=True, help_text="e.g. 'No thanks'.")
    consent_email_text = models.CharField(
        max_length=300,
        blank=True,
        help_text="Opt-in steps: the wording next to the marketing e-mail checkbox. Empty: no checkbox.",
    )
    consent_ads_text = models.CharField(
        max_length=300,
        blank=True,
        help_text="Opt-in steps: the wording next to the ad-audiences checkbox. Empty: no checkbox.",
    )
    ask_phone = models.BooleanField(default=False, help_text="Opt-in steps: show an optional phone field.")

    class Meta:
        ordering = ["funnel", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["funnel", "slug"], name="step_slug_unique_in_funnel")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def bullet_list(self) -> list[str]:
        return [line.strip() for line in self.bullets.splitlines() if line.strip()]


class Route(models.Model):
    """Where a visitor goes from a step when they accept (submit, buy, 'yes') or decline ('no thanks')."""

    class Outcome(models.TextChoices):
        ACCEPT = "accept", "Accept"
        DECLINE = "decline", "Decline"

    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="routes")
    from_step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="routes_out")
    outcome = models.CharField(max_length=7, choices=Outcome.choices)
    to_step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="routes_in")

    class Meta:
        ordering = ["funnel", "from_step__position", "outcome"]
        constraints = [
            models.UniqueConstraint(fields=["from_step", "outcome"], name="route_one_per_outcome"),
            models.CheckConstraint(condition=~Q(from_step=F("to_step")), name="route_not_to_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.from_step.name} —{self.outcome}→ {self.to_step.name}"


class Variant(models.Model):
    """A split-test version of a step; blank fields inherit the step's content. Weight 0 pauses it."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=60)
    weight = models.PositiveSmallIntegerField(default=1, help_text="Relative share of visitors; 0 pauses it.")
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    bullets = models.TextField(blank=True)
    accept_label = models.CharField(max_length=80, blank=True)
    decline_label = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["step", "id"]
        constraints = [models.UniqueConstraint(fields=["step", "name"], name="variant_name_unique_in_step")]

    def __str__(self) -> str:
        return f"{self.step.name} / {self.name}"
