"""The demo's constants, logins, offers and funnels."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from funnels.models import Funnel, Route, Step, Variant
from funnels.services import (
    funnel_publish,
)
from offers.models import Coupon, Offer, Product

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
# The campaigns' links carry the campaign id where the ad platform fills it in ({{campaign.id}}, {campaignid}) and
# a hand-typed name elsewhere, so the campaign report shows both ways of matching spend; retarget-7d has no spend.
CAMPAIGNS = {
    "facebook": ["120210000000001", "ebook-lookalike", "retarget-7d"],
    "google": ["20991234567", "brand"],
    "newsletter": ["partner-swap"],
}
# (platform, account, campaign id, name, source, UTM campaign, cost per lead in cents): the demo's ad spend.
AD_CAMPAIGNS = [
    ("meta", "act_100200300", "120210000000001", "E-book — cold audiences", "facebook", "120210000000001", 620),
    ("meta", "act_100200300", "120210000000002", "ebook-lookalike", "facebook", "ebook-lookalike", 480),
    ("google", "123-456-7890", "20991234567", "E-book search", "google", "20991234567", 750),
    ("google", "123-456-7890", "20991234568", "Brand", "google", "brand", 210),
]
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
        ("sales2", DEMO_PASSWORD, "sales"),
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
