"""Rollups kept from the event log and the orders, so a report reads a few thousand pre-summed rows, never the raw
events. Every table here is derived: ``python manage.py rollups_rebuild`` recomputes all of them from the source rows
and gives exactly what the incremental maintenance (``analytics.services.rollups_advance``) keeps.

Ids of other apps' rows are plain integers: these rows outlive nothing and are rebuilt, never edited by hand.
Days are local dates in ``settings.TIME_ZONE``; ``variant_id`` 0 means "all variants" in a series row and "no
variant" in a sales row.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Rollup(models.Model):
    """A derived row: shown by its fields (none of these is edited in the admin)."""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.attname)}" for f in self._meta.concrete_fields)


class Kind(models.IntegerChoices):
    VIEW = 1, "Visitors (page views)"
    CONVERSION = 2, "Conversions"


class RollupCursor(Rollup):
    """How far the maintenance has read the event log (``leads.Event`` ids), and the ids below it that were not
    committed yet when it passed them (``pending``: checked again until ``RollupGap.EXPIRY`` has passed)."""

    name = models.CharField(max_length=40, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Who may read the reports (dashboard, report pages, the reports API): marketers and admins, not sales.
        permissions = [("view_report", "Can view reports")]


class RollupGap(Rollup):
    """An event id the cursor passed that did not exist then: a transaction still open, or an id never used."""

    event_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()


class Presence(Rollup):
    """A visitor seen on a step on a day: viewing it (kind 1) or doing its conversion (kind 2), under a variant."""

    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    step_id = models.BigIntegerField()
    visitor_id = models.UUIDField()
    day = models.DateField()
    variant_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "step_id", "visitor_id", "day", "variant_id"], name="presence_once")
        ]


class DistinctDay(Rollup):
    """Distinct visitors made summable over any range of days.

    Each (visitor, series) contributes one count per day it was seen, filed under that day and the previous day it
    was seen (``prev_day``; 0001-01-01 when none). A visitor was seen in ``[since, until)`` exactly once counting
    the row with ``since <= day < until`` and ``prev_day < since``: its first day in the range. So the distinct
    visitors of any range are ``SUM(visitors)`` over those rows: exact, and a few hundred rows a step.
    """

    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    step_id = models.BigIntegerField()
    variant_id = models.BigIntegerField(default=0)
    day = models.DateField()
    prev_day = models.DateField()
    visitors = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "step_id", "variant_id", "day", "prev_day"], name="distinct_day_once"
            )
        ]


class LineFact(Rollup):
    """One paid order line as the reports count it, credited to the order's paid day (refunds and lost disputes
    stay with the order's day, whenever they happen)."""

    line_id = models.BigIntegerField(primary_key=True)
    order_id = models.BigIntegerField(db_index=True)
    lead_id = models.BigIntegerField(db_index=True)
    funnel_id = models.BigIntegerField(default=0)
    step_id = models.BigIntegerField(default=0)
    variant_id = models.BigIntegerField(default=0)
    visitor_id = models.UUIDField(null=True)
    offer_id = models.BigIntegerField()
    is_bump = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    day = models.DateField()
    charged_minor = models.BigIntegerField()
    refunded_minor = models.BigIntegerField()


class OrderFact(Rollup):
    """One paid order as the reports count it: what was charged and what refunds and lost disputes took back."""

    order_id = models.BigIntegerField(primary_key=True)
    lead_id = models.BigIntegerField(db_index=True)
    funnel_id = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    day = models.DateField()
    gross_minor = models.BigIntegerField()
    refunds_minor = models.BigIntegerField()


class LeadFact(Rollup):
    """A lead with events, as the channel reports count it: the day it was created and its first- and last-touch
    channel (the touch's UTM source and campaign; without a source, the ad platform its click id names)."""

    lead_id = models.BigIntegerField(primary_key=True)
    created_day = models.DateField()
    first_source = models.CharField(max_length=200)
    first_campaign = models.CharField(max_length=200)
    last_source = models.CharField(max_length=200)
    last_campaign = models.CharField(max_length=200)


class ChannelDay(Rollup):
    """New leads (``currency`` empty) and paid orders by touch, source, campaign and day."""

    touch = models.CharField(max_length=5)
    source = models.CharField(max_length=200)
    campaign = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, blank=True)
    day = models.DateField()
    leads = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    gross_minor = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["touch", "source", "campaign", "currency", "day"], name="channel_day_once")
        ]


class LeadSeriesDay(Rollup):
    """Distinct buyers made summable over any range, like ``DistinctDay`` for visitors: each lead's purchase days in
    a series (``all|USD``, ``offer|<id>|USD``, ``channel|first|<source>|<campaign>|USD``), filed with the previous
    day it bought in that series."""

    series = models.CharField(max_length=450)
    day = models.DateField()
    prev_day = models.DateField()
    leads = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "day", "prev_day"], name="lead_series_day_once")]


class SalesDay(Rollup):
    """Order lines by funnel, step, variant, offer and paid day."""

    funnel_id = models.BigIntegerField()
    step_id = models.BigIntegerField()
    variant_id = models.BigIntegerField()
    offer_id = models.BigIntegerField()
    is_bump = models.BooleanField()
    currency = models.CharField(max_length=3)
    day = models.DateField()
    lines = models.BigIntegerField(default=0)
    gross_minor = models.BigIntegerField(default=0)
    refunds_minor = models.BigIntegerField(default=0)
    refunded_lines = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["funnel_id", "step_id", "variant_id", "offer_id", "is_bump", "currency", "day"],
                name="sales_day_once",
            )
        ]


class OrderDay(Rollup):
    """Paid orders by funnel and paid day."""

    funnel_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    day = models.DateField()
    orders = models.BigIntegerField(default=0)
    gross_minor = models.BigIntegerField(default=0)
    refunds_minor = models.BigIntegerField(default=0)
    refunded_orders = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["funnel_id", "currency", "day"], name="order_day_once")]


class Exposure(Rollup):
    """The variant a visitor first saw of a split-tested step (their earliest page view of it), and when."""

    step_id = models.BigIntegerField()
    visitor_id = models.UUIDField()
    variant_id = models.BigIntegerField()
    first_at = models.DateTimeField()
    event_id = models.BigIntegerField(help_text="The page view it was first seen in (ties on time go to the lower).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step_id", "visitor_id"], name="exposure_once")]
        indexes = [models.Index(fields=["step_id", "first_at"], name="exposure_step_time")]


class VisitorValue(Rollup):
    """What a visitor's purchases in a funnel are worth, net of refunds and lost disputes (per currency)."""

    funnel_id = models.BigIntegerField()
    visitor_id = models.UUIDField()
    currency = models.CharField(max_length=3)
    net_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["funnel_id", "visitor_id", "currency"], name="visitor_value_once")
        ]


class Buyer(Rollup):
    """A lead's purchases in one currency: orders with a positive net, first and last of them, net revenue."""

    lead_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    first_day = models.DateField()
    last_day = models.DateField()
    orders = models.IntegerField()
    net_minor = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead_id", "currency"], name="buyer_once")]
        indexes = [
            models.Index(fields=["currency", "net_minor"], name="buyer_net"),
            models.Index(fields=["currency", "last_day", "orders"], name="buyer_recency_frequency"),
        ]


class CohortCell(Rollup):
    """Buyers acquired in a month (first order with a positive net) who bought in a month (0 = the first)."""

    currency = models.CharField(max_length=3)
    cohort = models.DateField(help_text="The first day of the acquisition month.")
    month = models.DateField(help_text="The first day of the month they bought in.")
    buyers = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["currency", "cohort", "month"], name="cohort_cell_once")]


class RfmCell(Rollup):
    """Buyers by last purchase day and number of purchases, with their net revenue: what recency and frequency
    scores and the segments are counted from (a few thousand rows however many buyers there are)."""

    currency = models.CharField(max_length=3)
    last_day = models.DateField()
    orders = models.IntegerField()
    buyers = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["currency", "last_day", "orders"], name="rfm_cell_once")]


class ClvFit(models.Model):
    """One nightly fit of a currency's lifetime-value models, kept for reproducibility: parameters, log-likelihoods,
    customers, time, the holdout check, or why the models were not used."""

    currency = models.CharField(max_length=3)
    fitted_at = models.DateTimeField()
    usable = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True, help_text="Why the predictions are not used, if not.")
    customers = models.IntegerField(default=0)
    repeat_customers = models.IntegerField(default=0)
    r = models.FloatField(null=True)
    alpha = models.FloatField(null=True, help_text="In days.")
    a = models.FloatField(null=True)
    b = models.FloatField(null=True)
    bgnbd_loglik = models.FloatField(null=True)
    p = models.FloatField(null=True)
    q = models.FloatField(null=True)
    gamma = models.FloatField(null=True, help_text="In minor units.")
    gamma_gamma_loglik = models.FloatField(null=True)
    constant_spend_minor = models.FloatField(
        null=True, help_text="When buyers do not differ in spend: the value of every purchase, in minor units."
    )
    horizon_months = models.PositiveSmallIntegerField()
    monthly_discount = models.FloatField()
    fit_seconds = models.FloatField(default=0)
    holdout = models.JSONField(
        default=dict, blank=True, help_text="Purchases predicted for the last days held out, against those made."
    )

    class Meta:
        ordering = ["-fitted_at"]
        indexes = [models.Index(fields=["currency", "-fitted_at"], name="clv_fit_latest")]

    def __str__(self) -> str:
        return f"{self.currency} fit of {self.fitted_at:%Y-%m-%d %H:%M}"

    @property
    def mean_spend_minor(self) -> float | None:
        """The population's expected value of a purchase, p γ / (q − 1), in minor units."""
        if self.constant_spend_minor is not None:
            return self.constant_spend_minor
        if self.p is None or self.q is None or self.gamma is None or self.q <= 1:
            return None
        return self.p * self.gamma / (self.q - 1)


class CustomerValue(models.Model):
    """A buyer's predicted future in one currency, from the fit that scored them."""

    lead_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fit = models.ForeignKey(ClvFit, on_delete=models.CASCADE, related_name="values")
    p_alive = models.FloatField()
    expected_purchases = models.FloatField(help_text="Over the fit's horizon.")
    predicted_value_minor = models.BigIntegerField(help_text="Discounted net value over the fit's horizon.")
    scored_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead_id", "currency"], name="customer_value_once")]
        indexes = [models.Index(fields=["currency", "-predicted_value_minor"], name="customer_value_rank")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.currency}: {self.predicted_value_minor}"


class ExchangeRate(models.Model):
    """How much one unit of ``currency`` is worth in the reporting currency (``settings.REPORTS_CURRENCY``) from a
    day on. Totals across currencies are shown only where every currency involved has a rate: never a silent mix."""

    currency = models.CharField(max_length=3, help_text="ISO 4217 code of the currency converted, e.g. EUR.")
    rate = models.DecimalField(
        max_digits=20, decimal_places=10, help_text="Units of the reporting currency for one unit of this currency."
    )
    valid_from = models.DateField(help_text="The first day this rate applies; the latest rate up to a day is used.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="exchange_rate_once_a_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} {settings.REPORTS_CURRENCY} from {self.valid_from}"

    def clean(self) -> None:
        code = (self.currency or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValidationError({"currency": "Enter a three-letter ISO 4217 code, e.g. EUR."})
        if code == settings.REPORTS_CURRENCY:
            raise ValidationError({"currency": f"{code} is the reporting currency itself; it needs no rate."})
        if self.rate is not None and self.rate <= 0:
            raise ValidationError({"rate": "A rate is a positive number."})
        self.currency = code
