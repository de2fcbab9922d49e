"""The demo value ladder: an e-book funnel with about 2,000 leads and 90 days of their history.

Everything is derived from a fixed random seed and from the time the demo funnel was first created, so
running the seed again changes nothing, and two fresh databases seeded on the same day hold the same data.
The whole seed runs in one transaction: an interrupted seed leaves nothing half-made.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from analytics.services import rollups_catch_up
from analytics.value import clv_refresh
from audiences.models import Audience, Destination
from audiences.presets import presets
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from funnels.models import Funnel, Route, Step, Variant
from funnels.services import (
    Visit,
    checkout_started_record,
    funnel_publish,
    offer_accepted,
    page_view_record,
    step_answer,
)
from funnels.splits import variant_for
from leads.contracts import Attribution, ConsentAnswer
from leads.models import Consent, Event, Lead, Note, Stage, Tag
from leads.services import lead_capture
from offers import payments
from offers.models import Coupon, Offer, Order, Payment, Product, Refund
from offers.services import dispute_close, dispute_record, refund_record

SEED = 20261122
LEAD_COUNT = 2000
DAYS = 365
DEMO_DOMAIN = "demo.ladder.test"
DEMO_NAMESPACE = uuid.UUID("6c0e3a54-63f4-4f53-9a0e-4a6f3b0c9d11")

FIRST_NAMES = (
    "Ava Liam Olivia Noah Emma Oliver Mia Elias Sofia Lucas Amelia Mateo Isla Leo Chloe Jonas Lea Hugo Zoe Felix "
    "Nora Ethan Ella Luca Aria Jack Lily Max Grace Sam Ines Theo Maya Adam Clara Ben Alice Omar Yara Kai"
).split()
LAST_NAMES = (
    "Smith Müller García Johnson Rossi Dubois Schmidt Brown Martin Jones Silva Novak Kowalski Jensen Nielsen Taylor "
    "Wilson Moreau Fischer Romero Costa Walker Young King Wright Lopez Hill Green Adams Baker"
).split()
COUNTRIES = [
    ("US", 0.48),
    ("GB", 0.12),
    ("CA", 0.08),
    ("DE", 0.09),
    ("FR", 0.06),
    ("AU", 0.07),
    ("NL", 0.04),
    ("ES", 0.03),
    ("IE", 0.03),
]
EEA = {"DE", "FR", "NL", "ES", "IE", "GB"}
PHONE_PREFIX = {
    "US": "+1202555",
    "CA": "+1416555",
    "GB": "+44791112",
    "DE": "+491512345",
    "FR": "+3361234",
    "AU": "+6141234",
    "NL": "+3161234",
    "ES": "+3461234",
    "IE": "+35387123",
}
CHANNELS = [
    ("facebook", "paid_social", 0.45),
    ("google", "cpc", 0.28),
    ("newsletter", "email", 0.12),
    ("", "", 0.15),  # direct / organic
]
CAMPAIGNS = {
    "facebook": ["ebook-cold", "ebook-lookalike", "retarget-7d"],
    "google": ["ebook-search", "brand"],
    "newsletter": ["partner-swap"],
}
AD_CONSENT_WORDING = "Show me relevant offers on Facebook, Instagram and Google (you can withdraw at any time)."
EMAIL_CONSENT_WORDING = "Send me the e-book and occasional tips by e-mail."
DEMO_PASSWORD = "ladder-demo"


@dataclass
class Ladder:
    funnel: Funnel
    steps: dict[str, Step]
    offers: dict[str, Offer]
    coupon: Coupon
    workshop: Step  # the order form of the customers-only workshop funnel: where buyers come back to buy again


@dataclass
class _Plan:
    """One demo lead's walk through the funnel, decided up front so the rows can be inserted in bulk."""

    index: int
    created_at: dt.datetime
    channel: tuple[str, str, str]
    country: str
    ad_consent: bool
    email_consent: bool
    withdrew_ads: bool
    events: list[tuple[str, str, dt.datetime, dict[str, object]]] = field(default_factory=list)
    bought: list[str] = field(default_factory=list)  # offer keys in the order they were bought
    coupon: bool = False
    refund: str = ""  # "", "full", "partial", "bump", "dispute_lost" or "dispute_won"
    returns: list[tuple[dt.datetime, bool]] = field(default_factory=list)  # later visits: (when, bought)
    takes_recordings: float = 0.0  # how likely this buyer adds the workshop's recording to a booking


def demo_users() -> list[tuple[str, str, str]]:
    """(username, password, role) of the demo logins; the seed prints them."""
    return [
        ("admin", DEMO_PASSWORD, "superuser"),
        ("marketer", DEMO_PASSWORD, "marketer"),
        ("sales", DEMO_PASSWORD, "sales"),
    ]


def _ensure_users() -> dict[str, object]:
    user_model = get_user_model()
    users: dict[str, object] = {}
    for username, password, role in demo_users():
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"email": f"{username}@{DEMO_DOMAIN}", "is_staff": True}
        )
        if created:
            user.set_password(password)
            if role == "superuser":
                user.is_superuser = True
            user.save()
            if role != "superuser":
                user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


def _ensure_ladder() -> Ladder:
    def product(slug: str, name: str, description: str) -> Product:
        return Product.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})[0]

    def offer(slug: str, product_: Product, name: str, role: str, amount_minor: int, **extra: object) -> Offer:
        return Offer.objects.get_or_create(
            slug=slug,
            defaults={
                "product": product_,
                "name": name,
                "role": role,
                "amount_minor": amount_minor,
                "currency": "USD",
                **extra,
            },
        )[0]

    ebook = product("ads-playbook", "The Paid Ads Playbook", "A 60-page e-book on profitable ad funnels.")
    swipe = product("swipe-file", "Ad Swipe File", "120 proven ads, annotated.")
    templates = product("copy-templates", "Ad Copy Templates", "Fill-in-the-blank templates for every platform.")
    course = product("ads-mastery", "Ads Mastery Course", "Eight-week video course with weekly calls.")
    audit = product("account-audit", "Done-for-you Account Audit", "An expert reviews your ad account.")
    offers = {
        "lead_magnet": offer(
            "playbook-free",
            ebook,
            "The Paid Ads Playbook (free)",
            "lead_magnet",
            0,
            asset_url="https://example.com/downloads/paid-ads-playbook.pdf",
        ),
        "tripwire": offer("swipe-file-7", swipe, "Ad Swipe File", "tripwire", 700),
        "bump": offer("copy-templates-17", templates, "Ad Copy Templates", "order_bump", 1700),
        "core": offer("ads-mastery-97", course, "Ads Mastery Course", "core", 9700),
        "downsell": offer("ads-mastery-lite-47", course, "Ads Mastery Course (self-paced)", "downsell", 4700),
        "cross_sell": offer("account-audit-197", audit, "Done-for-you Account Audit", "cross_sell", 19700),
    }
    funnel, _ = Funnel.objects.get_or_create(
        slug="ebook", defaults={"name": "Paid Ads Playbook funnel", "currency": "USD", "default_country": "US"}
    )
    step_specs = [
        (
            "optin",
            "Get the e-book",
            "optin",
            "lead_magnet",
            None,
            "Free: The Paid Ads Playbook",
            "Send me the e-book",
            "",
        ),
        (
            "order",
            "Swipe file offer",
            "order_form",
            "tripwire",
            "bump",
            "Wait! Get 120 proven ads for just $7",
            "Complete my order",
            "",
        ),
        (
            "upsell",
            "Mastery course",
            "upsell",
            "core",
            None,
            "Turn the playbook into results",
            "Yes, add the course",
            "No thanks",
        ),
        (
            "downsell",
            "Self-paced course",
            "downsell",
            "downsell",
            None,
            "Prefer to go at your own pace?",
            "Yes, self-paced for $47",
            "No thanks",
        ),
        (
            "cross-sell",
            "Account audit",
            "cross_sell",
            "cross_sell",
            None,
            "Want an expert to look at your account?",
            "Yes, audit my account",
            "Skip",
        ),
        ("thank-you", "Thank you", "thank_you", None, None, "You're in! Check your inbox.", "", ""),
    ]
    steps: dict[str, Step] = {}
    for position, (slug, name, kind, offer_key, bump_key, headline, accept, decline) in enumerate(step_specs):
        steps[slug] = Step.objects.get_or_create(
            funnel=funnel,
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "position": position * 10,
                "headline": headline,
                "offer": offers[offer_key] if offer_key else None,
                "bump_offer": offers[bump_key] if bump_key else None,
                "accept_label": accept,
                "decline_label": decline,
                "body": "Everything we learned from $2M in ad spend, in plain language.",
                "bullets": "The 3-step ladder that pays for your ads\nAudiences that convert\nWhat to test first",
                **(
                    {
                        "consent_email_text": EMAIL_CONSENT_WORDING,
                        "consent_ads_text": AD_CONSENT_WORDING,
                        "ask_phone": True,
                    }
                    if kind == "optin"
                    else {}
                ),
            },
        )[0]
    routes = [
        ("optin", "accept", "order"),
        ("order", "accept", "upsell"),
        ("upsell", "accept", "cross-sell"),
        ("upsell", "decline", "downsell"),
        ("downsell", "accept", "cross-sell"),
        ("downsell", "decline", "cross-sell"),
        ("cross-sell", "accept", "thank-you"),
        ("cross-sell", "decline", "thank-you"),
    ]
    for from_slug, outcome, to_slug in routes:
        Route.objects.get_or_create(
            funnel=funnel, from_step=steps[from_slug], outcome=outcome, defaults={"to_step": steps[to_slug]}
        )
    Variant.objects.get_or_create(step=steps["optin"], name="A", defaults={"weight": 1})
    Variant.objects.get_or_create(
        step=steps["optin"],
        name="B",
        defaults={"weight": 1, "headline": "The playbook behind $2M of profitable ads, free"},
    )
    # A split test of the upsell's sales letter: short (A) against long (B), judged on revenue per visitor.
    Variant.objects.get_or_create(step=steps["upsell"], name="A", defaults={"weight": 1})
    Variant.objects.get_or_create(
        step=steps["upsell"],
        name="B",
        defaults={"weight": 1, "headline": "Wait: the full course, with the case studies behind every chapter"},
    )
    if funnel.entry_step_id is None:
        funnel.entry_step = steps["optin"]
        funnel.save(update_fields=["entry_step"])
    if funnel.status != Funnel.Status.LIVE:
        funnel = funnel_publish(funnel=funnel)
    coupon = Coupon.objects.get_or_create(
        code="LAUNCH20", defaults={"kind": "percent", "percent_off": 20, "max_redemptions": 500}
    )[0]
    return Ladder(funnel=funnel, steps=steps, offers=offers, coupon=coupon, workshop=_ensure_workshop(offer, product))


def _ensure_workshop(offer: Callable[..., Offer], product: Callable[..., Product]) -> Step:
    """A second, customers-only funnel: the live workshop that buyers are invited to by e-mail."""
    workshop = product("ads-workshop", "Live Ads Workshop", "A half-day live workshop on scaling what works.")
    funnel, _ = Funnel.objects.get_or_create(
        slug="workshop", defaults={"name": "Live workshop (customers)", "currency": "USD", "default_country": "US"}
    )
    order = Step.objects.get_or_create(
        funnel=funnel,
        slug="order",
        defaults={
            "name": "Workshop seat",
            "kind": "order_form",
            "position": 0,
            "offer": offer("ads-workshop-147", workshop, "Live Ads Workshop", "core", 14700),
            "bump_offer": offer(
                "ads-workshop-recording-47",
                product("ads-workshop-recording", "Workshop recording", "The workshop's recording and slides."),
                "Workshop recording",
                "order_bump",
                4700,
            ),
            "headline": "Scale what already works: live, with us",
            "accept_label": "Book my seat",
        },
    )[0]
    thanks = Step.objects.get_or_create(
        funnel=funnel, slug="thank-you", defaults={"name": "See you there", "kind": "thank_you", "position": 10}
    )[0]
    Route.objects.get_or_create(funnel=funnel, from_step=order, outcome="accept", defaults={"to_step": thanks})
    if funnel.entry_step_id is None:
        funnel.entry_step = order
        funnel.save(update_fields=["entry_step"])
    if funnel.status != Funnel.Status.LIVE:
        funnel_publish(funnel=funnel)
    return order


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _ascii(name: str) -> str:
    """A name as an address's local part: lower case, accents dropped (García → garcia, Müller → muller)."""
    return unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()


def _visitor(index: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"visitor-{index}")


def _plan(rng: random.Random, index: int, anchor: dt.datetime, upsell_variant: Callable[[int], str]) -> _Plan:
    created_at = anchor - dt.timedelta(days=rng.uniform(0, DAYS))
    channel_source = rng.choices(CHANNELS, weights=[c[2] for c in CHANNELS])[0]
    source, medium = channel_source[0], channel_source[1]
    campaign = rng.choice(CAMPAIGNS[source]) if source in CAMPAIGNS else ""
    country = _weighted(rng, COUNTRIES)
    plan = _Plan(
        index=index,
        created_at=created_at,
        channel=(source, medium, campaign),
        country=country,
        ad_consent=rng.random() < (0.7 if country in EEA else 0.9),
        email_consent=rng.random() < 0.92,
        withdrew_ads=rng.random() < 0.02,
    )
    moment = created_at - dt.timedelta(minutes=rng.uniform(1, 20))

    def step(kind: str, step_slug: str, minutes: float) -> None:
        nonlocal moment
        moment = moment + dt.timedelta(minutes=minutes)
        plan.events.append((kind, step_slug, moment, {}))

    step("page_view", "optin", 0)
    step("optin", "optin", rng.uniform(0.5, 3))
    if rng.random() >= 0.36:
        return plan
    step("page_view", "order", 0.2)
    step("checkout_started", "order", rng.uniform(0.5, 4))
    if rng.random() >= 0.62:
        return plan  # abandoned checkout: the order stays pending
    plan.bought.append("tripwire")
    if rng.random() < 0.42:
        plan.bought.append("bump")
    plan.coupon = rng.random() < 0.08
    step("page_view", "upsell", 0.3)
    # The long sales letter (variant B) sells the course more often than the short one.
    if rng.random() < (0.33 if upsell_variant(index) == "B" else 0.22):
        plan.bought.append("core")
        step("upsell_accepted", "upsell", rng.uniform(0.5, 3))
    else:
        step("upsell_declined", "upsell", rng.uniform(0.5, 3))
        step("page_view", "downsell", 0.2)
        if rng.random() < 0.33:
            plan.bought.append("downsell")
            step("upsell_accepted", "downsell", rng.uniform(0.5, 2))
        else:
            step("upsell_declined", "downsell", rng.uniform(0.5, 2))
    step("page_view", "cross-sell", 0.2)
    if rng.random() < 0.14:
        plan.bought.append("cross_sell")
        step("upsell_accepted", "cross-sell", rng.uniform(0.5, 2))
    else:
        step("upsell_declined", "cross-sell", rng.uniform(0.5, 2))
    step("page_view", "thank-you", 0.1)
    # Buyers invited to the workshop come back as customers do: each at a rate of their own (a few weeks to a year
    # between bookings) until, after some booking, they are gone for good.
    rate = rng.gammavariate(0.8, 1 / 40)  # visits a day
    plan.takes_recordings = rng.betavariate(0.7, 0.7)  # some nearly always add the recording, some never
    gone = rng.betavariate(1.2, 3.0)  # the chance that a visit is the last
    later = moment
    while rng.random() >= gone:
        later = later + dt.timedelta(days=rng.expovariate(rate) if rate > 0 else DAYS)
        if later >= anchor:
            break
        plan.returns.append((later, True))
    roll = rng.random()
    plan.refund = (
        "full"
        if roll < 0.04
        else "partial"
        if roll < 0.055
        else "bump"
        if roll < 0.07 and "bump" in plan.bought
        else "dispute_lost"
        if roll < 0.075
        else "dispute_won"
        if roll < 0.08
        else ""
    )
    return plan


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
        _ensure_audiences(ladder)
    # The reports read rollups that Celery beat keeps; fold the log now so the first look shows numbers.
    rollups_catch_up()
    clv_refresh()  # the nightly lifetime-value fit, so the leads show their predictions at once
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
        """A refund (as Stripe's charge.refunded records it) or a dispute (as charge.dispute.* record it)."""
        when = payment.created_at + dt.timedelta(days=2)
        if plan.refund.startswith("dispute"):
            dispute, _ = dispute_record(
                payment=payment,
                stripe_dispute_id=f"dp_demo_{plan.index:05d}",
                amount_minor=payment.amount_minor,
                reason="product_not_received",
                created_at=when,
            )
            payments.dispute_opened_record(dispute=dispute)
            if dispute_close(dispute=dispute, won=plan.refund == "dispute_won", closed_at=when + dt.timedelta(days=20)):
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

    _seed_pipeline(plans, leads, users, stages, tags, rng)
    report(len(leads), "pipeline")


def _seed_pipeline(
    plans: list[_Plan],
    leads: list[Lead],
    users: dict[str, object],
    stages: dict[str, Stage],
    tags: dict[str, Tag],
    rng: random.Random,
) -> None:
    """What sales and time did to the leads: when each opted in, stage, owner, score, tags, notes, withdrawals."""
    consents, tag_links, notes = [], [], []
    for lead, plan in zip(leads, plans, strict=True):
        spent = len(plan.bought)
        stage = (
            "Won"
            if "core" in plan.bought or "cross_sell" in plan.bought
            else "Qualified"
            if spent
            else "Engaged"
            if rng.random() < 0.3
            else "New"
        )
        lead.created_at = plan.created_at  # created_at is set on insert; move it to when the lead opted in
        lead.stage = stages[stage]
        lead.owner = users["sales"] if stage in ("Qualified", "Won") and rng.random() < 0.6 else None  # type: ignore[assignment]
        lead.score = 10 + 15 * spent + rng.randrange(0, 10)
        lead.postal_code = f"{rng.randrange(10000, 99999)}"
        if plan.ad_consent and plan.withdrew_ads:
            consents.append(
                Consent(
                    lead=lead,
                    purpose="ad_audiences",
                    status="withdrawn",
                    wording="Withdrawn by e-mail request.",
                    source="admin",
                    legal_basis=Consent.LegalBasis.CONSENT,
                    eea=plan.country in EEA,
                    occurred_at=plan.created_at + dt.timedelta(days=3),
                )
            )
        tag_links.append(Lead.tags.through(lead=lead, tag=tags["ebook"]))
        if plan.bought:
            tag_links.append(Lead.tags.through(lead=lead, tag=tags["buyer"]))
        if len(plan.bought) >= 4:
            tag_links.append(Lead.tags.through(lead=lead, tag=tags["vip"]))
        if plan.refund:
            tag_links.append(Lead.tags.through(lead=lead, tag=tags["refunded"]))
        if lead.owner is not None and rng.random() < 0.5:
            notes.append(Note(lead=lead, author=lead.owner, body="Called: interested in the course bundle."))
    Lead.objects.bulk_update(leads, ["created_at", "stage", "owner", "score", "postal_code"], batch_size=500)
    Consent.objects.bulk_create(consents, batch_size=1000)
    Lead.tags.through.objects.bulk_create(tag_links, batch_size=1000)
    Note.objects.bulk_create(notes)


DEMO_AUDIENCES = ("optin_no_tripwire", "tripwire_not_core", "abandoned_checkout", "recent_customers", "top_revenue")


def _ensure_audiences(ladder: Ladder) -> None:
    """The standard audiences, built from the demo's history, each synced once to a sandbox destination."""
    for preset in presets(days=30):
        if preset.key not in DEMO_AUDIENCES:
            continue
        audience, created = Audience.objects.get_or_create(
            slug=preset.key.replace("_", "-"),
            defaults={"name": preset.name, "description": preset.description, "rule": preset.rule},
        )
        destination, _ = Destination.objects.get_or_create(
            audience=audience,
            platform=Destination.Platform.SANDBOX,
            account_id="",
            defaults={"name": "Sandbox preview"},
        )
        if created:
            audience_refresh(audience=audience)
            destination_sync(destination=destination)
