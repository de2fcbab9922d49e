from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.utils import timezone

from audiences.models import Audience, Connection, ConversionDestination, Destination
from funnels.models import Funnel, Route, Step
from leads import scoring
from leads.models import Consent, Event, Lead
from offers.models import Coupon, Offer, Order, Product


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct horse battery")

    @factory.post_generation
    def role(obj: User, create: bool, extracted: str | None, **kwargs: object) -> None:  # noqa: N805
        if create and extracted:
            obj.groups.add(Group.objects.get(name=extracted))


class LeadFactory(factory.django.DjangoModelFactory[Lead]):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    first_name = "Ada"
    last_name = "Lovelace"
    country = "US"

    @classmethod
    def _create(cls, model_class: type[Lead], *args: Any, **kwargs: Any) -> Lead:
        """``score=N``: one entry of N points in the lead's score log, given now."""
        points = kwargs.pop("score", None)
        lead = super()._create(model_class, *args, **kwargs)
        if points:
            scoring.score_events_record(
                entries=[
                    scoring.ScoreEntry(
                        lead_id=lead.pk,
                        points=points,
                        reason="given in a test",
                        occurred_at=timezone.now(),
                        key=f"test:{lead.pk}:{points}",
                    )
                ]
            )
            lead.refresh_from_db(fields=["score_base"])
        return lead


class ConsentFactory(factory.django.DjangoModelFactory[Consent]):
    class Meta:
        model = Consent

    lead = factory.SubFactory(LeadFactory)
    purpose = Consent.Purpose.AD_AUDIENCES
    status = Consent.Status.GRANTED
    wording = "Show me relevant ads."
    source = "test"
    occurred_at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory[Event]):
    class Meta:
        model = Event

    type = Event.Type.OPTIN
    lead = factory.SubFactory(LeadFactory)
    occurred_at = factory.LazyFunction(timezone.now)
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")


class OfferFactory(factory.django.DjangoModelFactory[Offer]):
    class Meta:
        model = Offer

    product = factory.SubFactory(ProductFactory)
    name = factory.Sequence(lambda n: f"Offer {n}")
    slug = factory.Sequence(lambda n: f"offer-{n}")
    role = Offer.Role.TRIPWIRE
    amount_minor = 700
    currency = "USD"


class CouponFactory(factory.django.DjangoModelFactory[Coupon]):
    class Meta:
        model = Coupon

    code = factory.Sequence(lambda n: f"SAVE{n}")
    kind = Coupon.Kind.PERCENT
    percent_off = 20


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    class Meta:
        model = Order

    lead = factory.SubFactory(LeadFactory)
    currency = "USD"
    subtotal_minor = 700
    discount_minor = 0
    total_minor = 700
    created_at = factory.LazyFunction(timezone.now)


class FunnelFactory(factory.django.DjangoModelFactory[Funnel]):
    class Meta:
        model = Funnel

    name = factory.Sequence(lambda n: f"Funnel {n}")
    slug = factory.Sequence(lambda n: f"funnel-{n}")
    currency = "USD"


class StepFactory(factory.django.DjangoModelFactory[Step]):
    class Meta:
        model = Step

    funnel = factory.SubFactory(FunnelFactory)
    name = factory.Sequence(lambda n: f"Step {n}")
    slug = factory.Sequence(lambda n: f"step-{n}")
    kind = Step.Kind.OPTIN
    # Opt-in steps ask both consents, as "Ready to publish" wants; tests about other wordings set their own.
    consent_email_text = factory.LazyAttribute(lambda step: "Send me tips by e-mail." if step.kind == "optin" else "")
    consent_ads_text = factory.LazyAttribute(lambda step: "Show me relevant ads." if step.kind == "optin" else "")


class AudienceFactory(factory.django.DjangoModelFactory[Audience]):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")
    slug = factory.Sequence(lambda n: f"audience-{n}")


class ConnectionFactory(factory.django.DjangoModelFactory[Connection]):
    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"Meta account {n}")
    platform = Connection.Platform.META
    account_id = factory.Sequence(lambda n: f"act_{n}")


class DestinationFactory(factory.django.DjangoModelFactory[Destination]):
    class Meta:
        model = Destination

    audience = factory.SubFactory(AudienceFactory)
    name = "Meta prospects"
    connection = factory.SubFactory(ConnectionFactory)


CONNECTION_FIELDS = ("platform", "account_id", "login_customer_id", "google_api", "endpoint_url", "credentials")


def _own_connection(fields: dict[str, Any]) -> Connection:
    """A connection made of the connection's fields among ``fields`` (taken out of them)."""
    own = {name: fields.pop(name) for name in CONNECTION_FIELDS if name in fields}
    return Connection.objects.create(name=f"{fields.get('name', 'Sender')} account", **own)


def destination_make(**fields: Any) -> Destination:
    """A destination with a connection of its own, from the fields a destination once held itself (platform,
    account, credentials, …); the rest are the destination's."""
    return Destination.objects.create(connection=_own_connection(fields), **fields)


def conversion_destination_make(**fields: Any) -> ConversionDestination:
    """A conversion destination with a connection of its own, made as ``destination_make`` makes one."""
    return ConversionDestination.objects.create(connection=_own_connection(fields), **fields)


def ladder_funnel(*, currency: str = "USD") -> tuple[Funnel, dict[str, Step]]:
    """A valid funnel: opt-in → order form (tripwire + bump) → upsell → (no) downsell → thank-you."""
    funnel = FunnelFactory.create(currency=currency)

    def offer(role: str, amount: int) -> Offer:
        return OfferFactory.create(role=role, amount_minor=amount, currency=currency)

    steps = {
        "optin": StepFactory.create(
            funnel=funnel, name="Opt-in", slug="optin", kind="optin", offer=offer("lead_magnet", 0)
        ),
        "order": StepFactory.create(
            funnel=funnel,
            name="Order",
            slug="order",
            kind="order_form",
            offer=offer("tripwire", 700),
            bump_offer=offer("order_bump", 1700),
        ),
        "upsell": StepFactory.create(
            funnel=funnel, name="Upsell", slug="upsell", kind="upsell", offer=offer("core", 9700)
        ),
        "downsell": StepFactory.create(
            funnel=funnel, name="Downsell", slug="downsell", kind="downsell", offer=offer("downsell", 4700)
        ),
        "thanks": StepFactory.create(funnel=funnel, name="Thanks", slug="thanks", kind="thank_you"),
    }
    for from_key, outcome, to_key in [
        ("optin", "accept", "order"),
        ("order", "accept", "upsell"),
        ("upsell", "accept", "thanks"),
        ("upsell", "decline", "downsell"),
        ("downsell", "accept", "thanks"),
        ("downsell", "decline", "thanks"),
    ]:
        Route.objects.create(funnel=funnel, from_step=steps[from_key], outcome=outcome, to_step=steps[to_key])
    funnel.entry_step = steps["optin"]
    funnel.save()
    return funnel, steps


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def opted_in_member(email: str, **fields: Any) -> Lead:
    """A lead who opted in yesterday and consents to ad audiences (a member of an "opted in within 7 days" rule)."""
    lead = LeadFactory.create(email=email, **fields)
    EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(1))
    ConsentFactory.create(lead=lead, purpose="ad_audiences", status="granted")
    return lead
