"""Walking the plans through the real code paths: visits, opt-ins, purchases, refunds and disputes; then the pipeline
(``demo.pipeline``) and the audiences (``demo.audiences``)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from analytics.services import rollups_catch_up
from analytics.value import clv_refresh
from demo.audiences import ensure_demo_audiences
from demo.fulfilment import ensure_demo_fulfilment
from demo.imports import ensure_demo_import
from demo.ladder import (
    AD_CONSENT_WORDING,
    DEMO_DOMAIN,
    EMAIL_CONSENT_WORDING,
    FIRST_NAMES,
    LAST_NAMES,
    LEAD_COUNT,
    PHONE_PREFIX,
    SEED,
    Ladder,
    _ensure_ladder,
    _ensure_users,
    _Plan,
)
from demo.pipeline import seed_pipeline
from demo.plans import _ascii, _plan, _visitor
from demo.spend import ensure_demo_spend
from funnels.models import Variant
from funnels.services import (
    Visit,
    checkout_started_record,
    offer_accepted,
    page_view_record,
    step_answer,
)
from funnels.splits import variant_for
from leads.contracts import Attribution, ConsentAnswer
from leads.models import Consent, Event, Lead, Stage, Tag
from leads.services import lead_capture
from offers import payments
from offers.books import dispute_close, dispute_record, refund_record
from offers.models import Offer, Order, Payment, Refund

BOUNCES = 3000  # visitors who look at the opt-in page and leave
PROGRESS_TOTAL = LEAD_COUNT + BOUNCES + LEAD_COUNT + 1


def demo_seed(*, progress: Callable[[int, str], None] | None = None) -> dict[str, int]:
    """Build the demo (idempotently) and return row counts. ``progress(n, phase)`` reports work done, up to
    ``PROGRESS_TOTAL``."""
    report = progress or (lambda n, phase: None)
    with transaction.atomic():
        users = _ensure_users()
        ladder = _ensure_ladder()
        if not Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).exists():
            _seed_history(ladder, users, report)
    with transaction.atomic():
        ensure_demo_import(created_by_id=users["marketer"].pk)  # type: ignore[attr-defined]
    ensure_demo_fulfilment()  # what the buyers paid for, their libraries and receipts
    with transaction.atomic():
        ensure_demo_spend()  # what the demo's campaigns cost, for the campaign report and the dashboard
    # The reports read rollups that Celery beat keeps; fold the log now so the first look shows numbers.
    rollups_catch_up()
    clv_refresh()  # the nightly lifetime-value fit, so the leads show their predictions at once
    with transaction.atomic():
        ensure_demo_audiences(ladder)  # after the fit: the value audience is built from its predictions
    report(1, "reports")
    return {
        "leads": Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).count(),
        "events": Event.objects.filter(funnel_id=ladder.funnel.pk).count(),
        "orders": Order.objects.filter(lead__email__endswith="@" + DEMO_DOMAIN, paid_at__isnull=False).count(),
        "refunds": Refund.objects.filter(stripe_refund_id__startswith="re_demo_").count(),
    }


class _Walk:
    """One visitor's way through the demo funnel, through the same services the hosted pages and Stripe's
    webhook call (with the moments of the history instead of now)."""

    def __init__(self, ladder: Ladder, variants: dict[str, list[Variant]]) -> None:
        self.ladder = ladder
        self.variants = variants

    def visit(self, slug: str, visitor: uuid.UUID) -> Visit:
        step = self.ladder.steps[slug]
        return Visit(
            step=step,
            visitor_id=visitor,
            variant=variant_for(visitor_id=visitor, step_id=step.pk, variants=self.variants[slug]),
        )

    @staticmethod
    def landing(plan: _Plan, moment: dt.datetime, click: str) -> Attribution:
        source, medium, campaign = plan.channel
        ms = int(moment.timestamp() * 1000)
        return Attribution(
            occurred_at=moment,
            utm_source=source,
            utm_medium=medium,
            utm_campaign=campaign,
            landing_url=f"https://shop.example.com/f/ebook/optin/?utm_source={source}"
            if source
            else "https://shop.example.com/f/ebook/optin/",
            referrer="https://l.facebook.com/"
            if source == "facebook"
            else "https://www.google.com/"
            if source == "google"
            else "",
            fbclid=click if source == "facebook" else "",
            fbc=f"fb.1.{ms}.{click}" if source == "facebook" else "",
            gclid=click if source == "google" else "",
        )

    def run(self, plan: _Plan, identity: tuple[str, str, str, str], click: str) -> Lead:
        ladder, visitor = self.ladder, _visitor(plan.index)
        lead: Lead | None = None
        order: Order | None = None
        first_payment: Payment | None = None
        for number, (kind, slug, moment, _) in enumerate(plan.events):
            visit = self.visit(slug, visitor)
            if kind == "page_view":
                attribution = self.landing(plan, moment, click) if number == 0 else Attribution(occurred_at=moment)
                page_view_record(visit=visit, attribution=attribution, first_visit=number == 0)
            elif kind == "optin":
                email, phone, first_name, last_name = identity
                capture = lead_capture(
                    email=email,
                    phone=phone,
                    first_name=first_name,
                    last_name=last_name,
                    idempotency_key=f"optin:{ladder.funnel.pk}:demo-{plan.index}",
                    source=f"funnel {ladder.funnel.slug} / {slug}",
                    default_country=plan.country,
                    assume_eea=ladder.funnel.eea_rules,
                    consents=[
                        ConsentAnswer(
                            purpose=Consent.Purpose.AD_AUDIENCES, wording=AD_CONSENT_WORDING, granted=plan.ad_consent
                        ),
                        ConsentAnswer(
                            purpose=Consent.Purpose.MARKETING_EMAIL,
                            wording=EMAIL_CONSENT_WORDING,
                            granted=plan.email_consent,
                        ),
                    ],
                    visitor_id=visitor,
                    attribution=self.landing(plan, moment, click),
                    refs=visit.refs,
                    occurred_at=moment,
                )
                lead = Lead.objects.get(pk=capture.lead_id)
            elif kind == "checkout_started" and lead is not None:
                offers = [ladder.offers[key] for key in ("tripwire", "bump") if key in plan.bought or key == "tripwire"]
                payment = payments.checkout_record(
                    lead=lead,
                    offers=offers,
                    funnel_id=ladder.funnel.pk,
                    coupon_code=ladder.coupon.code if plan.coupon else "",
                    submission_key=f"{visit.step.pk}:demo-{plan.index}",
                    origin=visit.origin,
                    at=moment,
                )
                checkout_started_record(visit=visit, lead=lead, payment=payment, at=moment)
                if plan.bought:
                    first_payment = payments.payment_succeeded(
                        payment=payment,
                        intent_id=f"pi_demo_{plan.index:05d}_1",
                        amount_minor=payment.amount_minor,
                        customer_id=f"cus_demo_{plan.index:05d}",
                        at=moment + dt.timedelta(seconds=5),
                    )
                    order = first_payment.order
            elif kind == "upsell_accepted" and order is not None and visit.step.offer is not None:
                extra = payments.addon_payment_record(
                    order=order, offer=visit.step.offer, kind=Payment.Kind.ONE_CLICK, origin=visit.origin, at=moment
                )
                payments.payment_succeeded(
                    payment=extra,
                    intent_id=f"pi_demo_{plan.index:05d}_{slug}",
                    amount_minor=extra.amount_minor,
                    at=moment,
                )
                offer_accepted(visit=visit, order=order, at=moment)
            elif kind == "upsell_declined":
                step_answer(visit=visit, outcome="decline", submission_id=f"demo-{plan.index}", at=moment)
        if first_payment is not None and plan.refund:
            self.money_back(plan, first_payment)
        for number, (moment, buys) in enumerate(plan.returns):
            self.come_back(plan, lead, number, moment, buys)
        assert lead is not None  # every plan opts in  # noqa: S101
        return lead

    def come_back(self, plan: _Plan, lead: Lead | None, number: int, moment: dt.datetime, buys: bool) -> None:
        """A later visit from the workshop invitation (the same browser), and a booking for some."""
        step = self.ladder.workshop
        visitor = _visitor(plan.index)
        visit = Visit(step=step, visitor_id=visitor, variant=None)
        page_view_record(
            visit=visit,
            attribution=Attribution(
                occurred_at=moment,
                utm_source="newsletter",
                utm_medium="email",
                utm_campaign="workshop-invite",
                landing_url="https://shop.example.com/f/workshop/order/?utm_source=newsletter",
            ),
            first_visit=False,
        )
        if not buys or lead is None or step.offer is None:
            return
        bump = (
            [step.bump_offer]
            if step.bump_offer and random.Random(plan.index * 31 + number).random() < (plan.takes_recordings)
            else []
        )
        payment = payments.checkout_record(
            lead=lead,
            offers=[step.offer, *bump],
            funnel_id=step.funnel_id,
            coupon_code="",
            submission_key=f"{step.pk}:demo-{plan.index}-{number}",
            origin=visit.origin,
            at=moment,
        )
        checkout_started_record(visit=visit, lead=lead, payment=payment, at=moment)
        payments.payment_succeeded(
            payment=payment,
            intent_id=f"pi_demo_{plan.index:05d}_w{number}",
            amount_minor=payment.amount_minor,
            at=moment + dt.timedelta(seconds=5),
        )

    @staticmethod
    def money_back(plan: _Plan, payment: Payment) -> None:
        """A refund (as Stripe's charge.refunded records it) or a dispute (as charge.dispute.* record it), two days
        after the payment and a dispute's close twenty days later, or now for a payment too recent: never in the
        future."""
        now = timezone.now()
        when = min(payment.created_at + dt.timedelta(days=2), now)
        if plan.refund.startswith("dispute"):
            dispute, _ = dispute_record(
                payment=payment,
                stripe_dispute_id=f"dp_demo_{plan.index:05d}",
                amount_minor=payment.amount_minor,
                reason="product_not_received",
                created_at=when,
            )
            payments.dispute_opened_record(dispute=dispute)
            closed_at = min(when + dt.timedelta(days=20), now)
            if dispute_close(dispute=dispute, won=plan.refund == "dispute_won", closed_at=closed_at):
                if dispute.status == dispute.Status.LOST:
                    payments.chargeback_event_record(dispute=dispute)
            return
        lines = list(payment.lines.order_by("id"))
        amount = {
            "full": payment.amount_minor,
            "partial": max(payment.amount_minor // 2, 1),
            "bump": next((line.charged_minor for line in lines if line.role == Offer.Role.ORDER_BUMP), 0),
        }[plan.refund]
        if amount:
            refund = refund_record(
                payment=payment,
                stripe_refund_id=f"re_demo_{plan.index:05d}",
                amount_minor=amount,
                reason="requested_by_customer",
                created_at=when,
            )
            payments.refund_event_record(refund=refund)


def _seed_history(ladder: Ladder, users: dict[str, object], report: Callable[[int, str], None]) -> None:
    rng = random.Random(SEED)
    anchor = ladder.funnel.created_at.replace(minute=0, second=0, microsecond=0)
    stages = {stage.name: stage for stage in Stage.objects.all()}
    tags = {name: Tag.objects.get_or_create(name=name)[0] for name in ("ebook", "buyer", "vip", "refunded")}
    variants = {slug: list(Variant.objects.filter(step=step)) for slug, step in ladder.steps.items()}
    walk = _Walk(ladder, variants)

    def upsell_variant(index: int) -> str:
        chosen = walk.visit("upsell", _visitor(index)).variant
        return chosen.name if chosen else ""

    plans = [_plan(rng, index, anchor, upsell_variant) for index in range(LEAD_COUNT)]
    leads: list[Lead] = []
    for plan in plans:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        identity = (
            f"{_ascii(first)}.{_ascii(last)}.{plan.index}@{DEMO_DOMAIN}",
            f"{PHONE_PREFIX[plan.country]}{rng.randrange(1000, 9999)}" if rng.random() < 0.55 else "",
            first,
            last,
        )
        leads.append(walk.run(plan, identity, click=f"demo{plan.index:05d}{rng.randrange(10**8):08d}"))
        report(1, "visitors")

    # Visitors who only looked: the opt-in page's views that did not become leads.
    for index in range(BOUNCES):
        plan = _plan(rng, LEAD_COUNT + index, anchor, upsell_variant)
        moment = plan.events[0][2]
        page_view_record(
            visit=walk.visit("optin", _visitor(LEAD_COUNT + index)),
            attribution=walk.landing(plan, moment, click=f"demo-bounce{index:05d}"),
            first_visit=True,
        )
        report(1, "visitors")

    seed_pipeline(plans, leads, users, stages, tags, rng)
    report(len(leads), "pipeline")
