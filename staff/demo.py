"""The demo value ladder: an e-book funnel with about 2,000 leads and 90 days of their history.

Everything is derived from a fixed random seed and from the time the demo funnel was first created, so
running the seed again changes nothing, and two fresh databases seeded on the same day hold the same data.
The whole seed runs in one transaction: an interrupted seed leaves nothing half-made.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from analytics.services import rollups_catch_up
from audiences.models import Audience, Destination
from audiences.presets import presets
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from funnels.models import Funnel, Route, Step, Variant
from funnels.services import funnel_publish
from leads.models import Consent, Event, Lead, Note, Stage, Tag, Touch
from offers.models import Coupon, CouponRedemption, Offer, Order, OrderLine, Payment, Product, Refund

SEED = 20261122
LEAD_COUNT = 2000
DAYS = 90
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
    "GB": "+4477009",
    "DE": "+4915123",
    "FR": "+3361234",
    "AU": "+6141234",
    "NL": "+3161234",
    "ES": "+3461234",
    "IE": "+3538712",
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


@dataclass
class Rows:
    leads: list[Lead] = field(default_factory=list)
    plans: list[_Plan] = field(default_factory=list)


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
    refund: str = ""  # "", "full" or "partial"


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
    if funnel.entry_step_id is None:
        funnel.entry_step = steps["optin"]
        funnel.save(update_fields=["entry_step"])
    if funnel.status != Funnel.Status.LIVE:
        funnel = funnel_publish(funnel=funnel)
    coupon = Coupon.objects.get_or_create(
        code="LAUNCH20", defaults={"kind": "percent", "percent_off": 20, "max_redemptions": 500}
    )[0]
    return Ladder(funnel=funnel, steps=steps, offers=offers, coupon=coupon)


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _plan(rng: random.Random, index: int, anchor: dt.datetime) -> _Plan:
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

    def step(kind: str, step_slug: str, minutes: float, **props: object) -> None:
        nonlocal moment
        moment = moment + dt.timedelta(minutes=minutes)
        plan.events.append((kind, step_slug, moment, props))

    step("page_view", "optin", 0, variant=rng.choice("AB"))
    step("optin", "optin", rng.uniform(0.5, 3))
    if rng.random() >= 0.36:
        return plan
    step("page_view", "order", 0.2)
    step("checkout_started", "order", rng.uniform(0.5, 4))
    if rng.random() >= 0.62:
        return plan  # abandoned checkout
    plan.bought.append("tripwire")
    if rng.random() < 0.42:
        plan.bought.append("bump")
    plan.coupon = rng.random() < 0.08
    step("page_view", "upsell", 0.3)
    if rng.random() < 0.27:
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
    roll = rng.random()
    plan.refund = "full" if roll < 0.04 else "partial" if roll < 0.06 else ""
    return plan


def demo_seed(*, progress: Callable[[int, str], None] | None = None) -> dict[str, int]:
    """Build the demo (idempotently) and return row counts. ``progress(n, phase)`` reports work done."""
    report = progress or (lambda n, phase: None)
    with transaction.atomic():
        users = _ensure_users()
        ladder = _ensure_ladder()
        if not Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).exists():
            _seed_history(ladder, users, report)
        _ensure_audiences(ladder)
    # The reports read rollups that Celery beat keeps; fold the log now so the first look shows numbers.
    rollups_catch_up()
    return {
        "leads": Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).count(),
        "events": Event.objects.filter(idempotency_key__startswith="demo:").count(),
        "orders": Order.objects.filter(lead__email__endswith="@" + DEMO_DOMAIN).count(),
        "refunds": Refund.objects.filter(stripe_refund_id__startswith="re_demo_").count(),
    }


def _seed_history(ladder: Ladder, users: dict[str, object], report: Callable[[int, str], None]) -> None:
    rng = random.Random(SEED)
    anchor = ladder.funnel.created_at.replace(minute=0, second=0, microsecond=0)
    stages = {stage.name: stage for stage in Stage.objects.all()}
    tags = {name: Tag.objects.get_or_create(name=name)[0] for name in ("ebook", "buyer", "vip", "refunded")}
    plans = [_plan(rng, index, anchor) for index in range(LEAD_COUNT)]

    leads: list[Lead] = []
    for plan in plans:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
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
        leads.append(
            Lead(
                public_id=uuid.uuid5(DEMO_NAMESPACE, f"lead-{plan.index}"),
                email=f"{first.lower()}.{last.lower()}.{plan.index}@{DEMO_DOMAIN}".replace("ü", "ue"),
                phone=f"{PHONE_PREFIX[plan.country]}{rng.randrange(1000, 9999)}" if rng.random() < 0.55 else "",
                first_name=first,
                last_name=last,
                country=plan.country,
                postal_code=f"{rng.randrange(10000, 99999)}",
                stage=stages[stage],
                owner=users["sales"] if stage in ("Qualified", "Won") and rng.random() < 0.6 else None,  # type: ignore[misc]
                score=10 + 15 * spent + rng.randrange(0, 10),
            )
        )
    Lead.objects.bulk_create(leads, batch_size=500)
    leads = list(Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).order_by("public_id"))
    by_public_id = {lead.public_id: lead for lead in leads}
    leads = [by_public_id[uuid.uuid5(DEMO_NAMESPACE, f"lead-{plan.index}")] for plan in plans]
    # created_at is set on insert; move it to when the lead really opted in.
    for lead, plan in zip(leads, plans, strict=True):
        lead.created_at = plan.created_at
    Lead.objects.bulk_update(leads, ["created_at"], batch_size=500)
    report(len(leads), "leads")

    touches, consents, tag_links, notes = [], [], [], []
    for lead, plan in zip(leads, plans, strict=True):
        source, medium, campaign = plan.channel
        click = f"demo{plan.index:05d}{rng.randrange(10**8):08d}"
        ms = int(plan.created_at.timestamp() * 1000)
        for kind in ("first", "last"):
            touches.append(
                Touch(
                    lead=lead,
                    kind=kind,
                    occurred_at=plan.created_at,
                    utm_source=source,
                    utm_medium=medium,
                    utm_campaign=campaign,
                    landing_url=f"https://shop.example.com/f/ebook/optin/?utm_source={source}",
                    referrer="https://l.facebook.com/"
                    if source == "facebook"
                    else "https://www.google.com/"
                    if source == "google"
                    else "",
                    fbclid=click if source == "facebook" else "",
                    fbc=f"fb.1.{ms}.{click}" if source == "facebook" else "",
                    gclid=click if source == "google" else "",
                )
            )
        eea = plan.country in EEA
        basis = Consent.LegalBasis.CONSENT
        if plan.ad_consent:
            consents.append(
                Consent(
                    lead=lead,
                    purpose="ad_audiences",
                    status="granted",
                    wording=AD_CONSENT_WORDING,
                    source="funnel ebook / optin",
                    legal_basis=basis,
                    eea=eea,
                    occurred_at=plan.created_at,
                )
            )
            if plan.withdrew_ads:
                consents.append(
                    Consent(
                        lead=lead,
                        purpose="ad_audiences",
                        status="withdrawn",
                        wording="Withdrawn by e-mail request.",
                        source="admin",
                        legal_basis=basis,
                        eea=eea,
                        occurred_at=plan.created_at + dt.timedelta(days=3),
                    )
                )
        if plan.email_consent:
            consents.append(
                Consent(
                    lead=lead,
                    purpose="marketing_email",
                    status="granted",
                    wording=EMAIL_CONSENT_WORDING,
                    source="funnel ebook / optin",
                    legal_basis=basis,
                    eea=eea,
                    occurred_at=plan.created_at,
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
    Touch.objects.bulk_create(touches, batch_size=1000)
    Consent.objects.bulk_create(consents, batch_size=1000)
    Lead.tags.through.objects.bulk_create(tag_links, batch_size=1000)
    Note.objects.bulk_create(notes)
    report(len(leads), "attribution")

    orders_by_plan = _seed_orders(ladder, leads, plans)
    report(len(leads), "orders")

    events = []
    steps, offers = ladder.steps, ladder.offers
    variants = {v.name: v.pk for v in Variant.objects.filter(step=steps["optin"])}
    lines_by_order: dict[int, list[OrderLine]] = {}
    for line in OrderLine.objects.filter(order__in=list(orders_by_plan.values())).order_by("id"):
        lines_by_order.setdefault(line.order_id, []).append(line)
    refunds_by_order: dict[int, list[Refund]] = {}
    for refund in Refund.objects.filter(stripe_refund_id__startswith="re_demo_").select_related("payment"):
        refunds_by_order.setdefault(refund.payment.order_id, []).append(refund)
    purchase_step = {
        "tripwire": "order",
        "bump": "order",
        "core": "upsell",
        "downsell": "downsell",
        "cross_sell": "cross-sell",
    }
    for lead, plan in zip(leads, plans, strict=True):
        variant_id = None
        for number, (kind, step_slug, moment, props) in enumerate(plan.events):
            if kind == "page_view" and step_slug == "optin":
                variant_id = variants[str(props["variant"])]
            step = steps[step_slug]
            events.append(
                Event(
                    type=kind,
                    lead=lead,
                    funnel_id=ladder.funnel.pk,
                    step_id=step.pk,
                    variant_id=variant_id if step_slug == "optin" else None,
                    offer_id=step.offer_id,
                    occurred_at=moment,
                    properties={},
                    idempotency_key=f"demo:{plan.index}:{number}",
                )
            )
        order = orders_by_plan.get(plan.index)
        if order is None:
            continue
        for line in lines_by_order[order.pk]:
            key = next(k for k, o in offers.items() if o.pk == line.offer_id)
            events.append(
                Event(
                    type="purchase",
                    lead=lead,
                    funnel_id=ladder.funnel.pk,
                    step_id=steps[purchase_step[key]].pk,
                    offer_id=line.offer_id,
                    order_id=order.pk,
                    occurred_at=line.created_at,
                    properties={"amount_minor": line.amount_minor, "currency": line.currency, "role": line.role},
                    idempotency_key=f"demo:{plan.index}:purchase:{line.offer_id}",
                )
            )
        for refund in refunds_by_order.get(order.pk, []):
            events.append(
                Event(
                    type="refund",
                    lead=lead,
                    funnel_id=ladder.funnel.pk,
                    order_id=order.pk,
                    occurred_at=refund.created_at,
                    properties={"amount_minor": refund.amount_minor, "currency": refund.currency},
                    idempotency_key=f"demo:{plan.index}:refund:{refund.stripe_refund_id}",
                )
            )
    Event.objects.bulk_create(events, batch_size=1000)
    report(len(leads), "events")


def _seed_orders(ladder: Ladder, leads: list[Lead], plans: list[_Plan]) -> dict[int, Order]:
    offers = ladder.offers
    buyers = [(lead, plan) for lead, plan in zip(leads, plans, strict=True) if plan.bought]
    orders = []
    for lead, plan in buyers:
        purchase_time = next(moment for kind, _, moment, _ in plan.events if kind == "checkout_started")
        items = [offers[key] for key in plan.bought]
        subtotal = sum(o.amount_minor for o in items)
        # The coupon applies to the first charge only (tripwire + bump), like the checkout does.
        first_charge_minor = sum(o.amount_minor for o in items if o.role in ("tripwire", "order_bump"))
        discount = (first_charge_minor * 20 + 50) // 100 if plan.coupon else 0
        orders.append(
            Order(
                public_id=uuid.uuid5(DEMO_NAMESPACE, f"order-{plan.index}"),
                lead=lead,
                funnel_id=ladder.funnel.pk,
                status=Order.Status.PAID,
                currency="USD",
                subtotal_minor=subtotal,
                discount_minor=discount,
                total_minor=subtotal - discount,
                coupon=ladder.coupon if plan.coupon else None,
                created_at=purchase_time,
                paid_at=purchase_time + dt.timedelta(seconds=5),
                stripe_customer_id=f"cus_demo_{plan.index:05d}",
            )
        )
    Order.objects.bulk_create(orders, batch_size=500)
    orders = list(Order.objects.filter(public_id__in=[o.public_id for o in orders]))
    by_public = {o.public_id: o for o in orders}
    result: dict[int, Order] = {}
    lines, payments = [], []
    for _lead, plan in buyers:
        order = by_public[uuid.uuid5(DEMO_NAMESPACE, f"order-{plan.index}")]
        result[plan.index] = order
        moment = order.created_at
        first_charge = [offers[k] for k in plan.bought if k in ("tripwire", "bump")]
        later = [offers[k] for k in plan.bought if k not in ("tripwire", "bump")]
        for offer in [*first_charge, *later]:
            lines.append(
                OrderLine(
                    order=order,
                    offer=offer,
                    role=offer.role,
                    description=offer.name,
                    amount_minor=offer.amount_minor,
                    currency="USD",
                    created_at=moment,
                )
            )
        payments.append(
            Payment(
                order=order,
                stripe_payment_intent_id=f"pi_demo_{plan.index:05d}_1",
                amount_minor=sum(o.amount_minor for o in first_charge) - order.discount_minor,
                currency="USD",
                status=Payment.Status.SUCCEEDED,
                created_at=moment,
            )
        )
        for number, offer in enumerate(later, start=2):
            payments.append(
                Payment(
                    order=order,
                    stripe_payment_intent_id=f"pi_demo_{plan.index:05d}_{number}",
                    amount_minor=offer.amount_minor,
                    currency="USD",
                    status=Payment.Status.SUCCEEDED,
                    created_at=moment + dt.timedelta(minutes=2 * number),
                )
            )
    OrderLine.objects.bulk_create(lines, batch_size=1000)
    Payment.objects.bulk_create(payments, batch_size=1000)
    redemptions = [
        CouponRedemption(coupon=ladder.coupon, order=o, discount_minor=o.discount_minor) for o in orders if o.coupon_id
    ]
    CouponRedemption.objects.bulk_create(redemptions)
    Coupon.objects.filter(pk=ladder.coupon.pk).update(redemptions_count=len(redemptions))

    first_payments = {
        p.order_id: p for p in Payment.objects.filter(order__in=orders, stripe_payment_intent_id__endswith="_1")
    }
    refunds, refunded_orders = [], []
    for _lead, plan in buyers:
        if not plan.refund:
            continue
        order = result[plan.index]
        payment = first_payments[order.pk]
        amount = payment.amount_minor if plan.refund == "full" else max(payment.amount_minor // 2, 1)
        refunds.append(
            Refund(
                payment=payment,
                stripe_refund_id=f"re_demo_{plan.index:05d}",
                amount_minor=amount,
                currency="USD",
                reason="requested_by_customer",
                created_at=order.created_at + dt.timedelta(days=2),
            )
        )
        order.refunded_minor = amount
        order.status = Order.Status.REFUNDED if amount == order.total_minor else Order.Status.PARTIALLY_REFUNDED
        refunded_orders.append(order)
    Refund.objects.bulk_create(refunds)
    Order.objects.bulk_update(refunded_orders, ["refunded_minor", "status"])
    return result


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
