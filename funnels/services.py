"""Writes for funnels: publishing, unpublishing, cloning."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from common.tasks import enqueue_on_commit
from funnels import selectors
from funnels.models import Funnel, Route, Step, Variant
from funnels.selectors import funnel_graph
from funnels.splits import variant_for
from funnels.validation import Problem, blocking_problems, graph_problems
from leads import selectors as lead_selectors
from leads.batches import events_record_batch
from leads.contracts import Attribution, Capture, ClientContext, ConsentAnswer, EventRefs
from leads.identity import CaptureInvalid
from leads.models import Consent, Event, Lead
from leads.services import event_record, lead_capture
from offers import payments
from offers.models import Offer, Order, Payment
from offers.selectors import current_order


class FunnelInvalid(ApplicationError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def funnel_problems(*, funnel: Funnel) -> list[Problem]:
    """Blocking problems and warnings, for showing to the marketer."""
    return graph_problems(funnel_graph(funnel=funnel))


def funnel_blocking_problems(*, funnel: Funnel) -> list[Problem]:
    return blocking_problems(funnel_graph(funnel=funnel))


@transaction.atomic
def funnel_publish(*, funnel: Funnel) -> Funnel:
    """Make the funnel live. Refused (FunnelInvalid, nothing changed) when its graph has any problem."""
    locked = Funnel.objects.select_for_update().get(pk=funnel.pk)
    problems = funnel_blocking_problems(funnel=locked)
    if problems:
        raise FunnelInvalid(problems)
    locked.status = Funnel.Status.LIVE
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at", "updated_at"])
    return locked


@transaction.atomic
def funnel_unpublish(*, funnel: Funnel) -> Funnel:
    Funnel.objects.filter(pk=funnel.pk).update(status=Funnel.Status.DRAFT, updated_at=timezone.now())
    funnel.refresh_from_db()
    return funnel


def _free_slug(base: str) -> str:
    taken = set(Funnel.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    for n in range(1, 10_000):
        candidate = f"{base}-copy" if n == 1 else f"{base}-copy-{n}"
        if candidate not in taken:
            return candidate[:100]
    raise ApplicationError(f"Too many copies of {base!r}; rename some first.")


@transaction.atomic
def funnel_clone(*, funnel: Funnel) -> Funnel:
    """A draft copy with the same steps, routes and variants, under a free ``<slug>-copy[-n]`` slug."""
    copy = Funnel.objects.create(
        name=f"{funnel.name} (copy)",
        slug=_free_slug(funnel.slug),
        currency=funnel.currency,
        default_country=funnel.default_country,
    )
    step_map: dict[int, Step] = {}
    for step in Step.objects.filter(funnel=funnel).order_by("position", "id"):
        old_id = step.pk
        step.pk = None
        step.funnel = copy
        step.save()
        step_map[old_id] = step
    Route.objects.bulk_create(
        Route(funnel=copy, from_step=step_map[r.from_step_id], outcome=r.outcome, to_step=step_map[r.to_step_id])
        for r in Route.objects.filter(funnel=funnel)
    )
    variants = list(Variant.objects.filter(step__funnel=funnel))
    for variant in variants:
        variant.pk = None
        variant.step = step_map[variant.step_id]
    Variant.objects.bulk_create(variants)
    if funnel.entry_step_id in step_map:
        copy.entry_step = step_map[funnel.entry_step_id]
        copy.save(update_fields=["entry_step"])
    return copy


# --- the hosted pages -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Visit:
    """Who is looking at which step, and through which split-test variant."""

    step: Step
    visitor_id: uuid.UUID
    variant: Variant | None
    client: ClientContext | None = None  # the browser, on the hosted pages (for server-side conversions)

    @property
    def origin(self) -> payments.PageOrigin:
        """This page as the origin of a charge, so its purchase is credited to this step, variant and visitor."""
        return payments.PageOrigin(
            visitor_id=self.visitor_id, step_id=self.step.pk, variant_id=self.variant.pk if self.variant else None
        )

    @property
    def refs(self) -> EventRefs:
        return EventRefs(
            funnel_id=self.step.funnel_id,
            step_id=self.step.pk,
            variant_id=self.variant.pk if self.variant else None,
            offer_id=self.step.offer_id,
        )


def page_view_record(*, visit: Visit, attribution: Attribution, first_visit: bool) -> None:
    """Append a ``page_view``. Landings (a new visitor, a campaign, another site) carry full attribution."""
    landing = first_visit or attribution.arrived_from_outside
    properties: dict[str, object] = (
        {**attribution.as_properties(), "landing": True}
        if landing
        else {"landing_url": attribution.landing_url, "landing": False}
    )
    event_record(
        type=Event.Type.PAGE_VIEW,
        idempotency_key=f"pv:{uuid.uuid4()}",
        occurred_at=attribution.occurred_at,
        lead=lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id),
        visitor_id=visit.visitor_id,
        refs=visit.refs,
        properties=properties,
    )


def funnel_optin(
    *,
    visit: Visit,
    submission_id: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    consents: dict[str, bool],
    attribution: Attribution | None = None,
    source: str = "",
    visitor_is_new: bool = False,
) -> Capture:
    """Capture an opt-in on ``visit.step``.

    ``consents`` maps each purpose the page asked about to whether it was ticked; the wording recorded is the
    step's own. The lead magnet is e-mailed once per submission, after the transaction commits.
    """
    step, funnel = visit.step, visit.step.funnel
    wording: dict[str, str] = {
        Consent.Purpose.MARKETING_EMAIL: step.consent_email_text,
        Consent.Purpose.AD_AUDIENCES: step.consent_ads_text,
    }
    answers = [
        ConsentAnswer(purpose=purpose, wording=wording[purpose], granted=granted)
        for purpose, granted in consents.items()
        if wording.get(purpose)
    ]
    capture = lead_capture(
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        default_country=funnel.default_country,
        assume_eea=funnel.eea_rules,
        consents=answers,
        visitor_id=visit.visitor_id,
        visitor_is_new=visitor_is_new,
        attribution=attribution,
        refs=visit.refs,
        idempotency_key=f"optin:{funnel.pk}:{submission_id}",
        source=source or f"funnel {funnel.slug} / {step.slug}",
        client=visit.client,
    )
    offer = step.offer
    if capture.optin_recorded and offer is not None and offer.role == Offer.Role.LEAD_MAGNET:
        lead_id, step_id = capture.lead_id, step.pk
        # After the capture's commit (at once here, or when an enclosing transaction commits); with the broker
        # down the answer still says what was stored, and lead_magnet_sweep sends it later.
        enqueue_on_commit("funnels.lead_magnet_email", lead_id=lead_id, step_id=step_id)
    return capture


def step_answer(*, visit: Visit, outcome: str, submission_id: str, at: dt.datetime | None = None) -> Step | None:
    """Record a visitor's answer on a sales or offer step (``at``: when, if not now) and return the step its route
    leads to."""
    step = visit.step
    kind_events: dict[tuple[str, str], tuple[str, str]] = {
        (Step.Kind.SALES, "accept"): (Event.Type.CUSTOM, "step_accept"),
        (Step.Kind.UPSELL, "decline"): (Event.Type.UPSELL_DECLINED, ""),
        (Step.Kind.DOWNSELL, "decline"): (Event.Type.UPSELL_DECLINED, ""),
        (Step.Kind.CROSS_SELL, "decline"): (Event.Type.UPSELL_DECLINED, ""),
    }
    event = kind_events.get((step.kind, outcome))
    if event is None:
        raise ApplicationError(f"A {step.get_kind_display().lower()} step has no {outcome} answer here.")
    event_record(
        type=event[0],
        name=event[1],
        idempotency_key=f"{outcome}:{step.pk}:{submission_id}",
        occurred_at=at,
        lead=lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id),
        visitor_id=visit.visitor_id,
        refs=visit.refs,
    )
    return selectors.next_step(step=step, outcome=outcome)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportedEvent:
    """One event reported through the API by a page on another site."""

    client_id: str
    type: str
    visitor_id: uuid.UUID
    occurred_at: dt.datetime
    name: str = ""
    step: Step | None = None
    properties: dict[str, object] = field(default_factory=dict)
    attribution: Attribution | None = None


def events_ingest(*, funnel: Funnel, events: Sequence[ReportedEvent]) -> tuple[int, int]:
    """Record a batch of reported events once each (keyed by the client's id); returns (recorded, duplicates).

    Each event gets the visitor's split-test variant of its step and, if the visitor has opted in, the lead.
    """
    lead_ids = lead_selectors.leads_for_visitors(visitor_ids=list({e.visitor_id for e in events}))
    rows = []
    for reported in events:
        step = reported.step
        variant = (
            variant_for(visitor_id=reported.visitor_id, step_id=step.pk, variants=list(step.variants.all()))
            if step
            else None
        )
        properties = dict(reported.properties)
        if reported.type == Event.Type.PAGE_VIEW and reported.attribution is not None:
            properties.update(
                {**reported.attribution.as_properties(), "landing": reported.attribution.arrived_from_outside}
            )
        rows.append(
            Event(
                type=reported.type,
                name=reported.name,
                lead_id=lead_ids.get(reported.visitor_id),
                visitor_id=reported.visitor_id,
                funnel_id=funnel.pk,
                step_id=step.pk if step else None,
                variant_id=variant.pk if variant else None,
                offer_id=step.offer_id if step else None,
                occurred_at=reported.occurred_at,
                properties=properties,
                idempotency_key=f"api:{funnel.pk}:{reported.client_id}",
            )
        )
    recorded = events_record_batch(events=rows)
    return recorded, len(rows) - recorded


def visitor_for_submission(*, funnel: Funnel, submission_id: str) -> uuid.UUID:
    """A stable visitor id for an API opt-in that sent none, so a retried submission keeps its variant."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ladder:{funnel.pk}:{submission_id}")


# --- buying on the pages ------------------------------------------------------------------------------------

PAID_STEP_KINDS = (Step.Kind.ORDER_FORM, Step.Kind.UPSELL, Step.Kind.DOWNSELL, Step.Kind.CROSS_SELL)


def buyer_for(*, visit: Visit, submission_id: str, email: str, first_name: str, attribution: Attribution) -> Lead:
    """The lead buying on this visit: the visitor's, or one captured from the order form's e-mail."""
    lead = lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id)
    if lead is not None:
        return lead
    if not email.strip():
        raise CaptureInvalid({"email": ["Enter your e-mail address; the receipt goes there."]})
    capture = funnel_optin(
        visit=visit,
        submission_id=submission_id,
        email=email,
        first_name=first_name,
        consents={},
        attribution=attribution,
        source=f"checkout {visit.step.funnel.slug} / {visit.step.slug}",
    )
    return Lead.objects.get(pk=capture.lead_id)


def checkout_begin(
    *, visit: Visit, lead: Lead, bump: bool, coupon_code: str, submission_id: str
) -> payments.CheckoutStarted:
    """Open the payment for this step: the order form's offer (and bump, if ticked) as a new order, or an offer
    step's offer added to the visitor's paid order in this funnel (a new order when there is none)."""
    step = visit.step
    if step.kind not in PAID_STEP_KINDS or step.offer is None:
        raise ApplicationError("Nothing is sold on this page.")
    order = None if step.kind == Step.Kind.ORDER_FORM else current_order(lead_id=lead.pk, funnel_id=step.funnel_id)
    if order is not None:
        started = payments.addon_checkout_start(order=order, offer=step.offer, origin=visit.origin)
    else:
        offers = [step.offer, *([step.bump_offer] if bump and step.bump_offer else [])]
        started = payments.checkout_start(
            lead=lead,
            offers=offers,
            funnel_id=step.funnel_id,
            coupon_code=coupon_code,
            submission_key=f"{step.pk}:{submission_id}",
            client=visit.client,
            origin=visit.origin,
        )
    checkout_started_record(visit=visit, lead=lead, payment=started.payment)
    return started


def checkout_started_record(*, visit: Visit, lead: Lead, payment: Payment, at: dt.datetime | None = None) -> None:
    """The ``checkout_started`` event of a payment opened on ``visit``'s page, once per payment."""
    event_record(
        type=Event.Type.CHECKOUT_STARTED,
        idempotency_key=f"checkout:{payment.pk}",
        occurred_at=at,
        lead=lead,
        visitor_id=visit.visitor_id,
        refs=dataclasses.replace(visit.refs, order_id=payment.order_id),
        properties={"amount_minor": payment.amount_minor, "currency": payment.currency},
    )


def offer_accepted(*, visit: Visit, order: Order, at: dt.datetime | None = None) -> Step | None:
    """Record that the visitor bought this step's offer, once (``at``: when, if not now), and return where the
    accept route leads."""
    event_record(
        type=Event.Type.UPSELL_ACCEPTED,
        idempotency_key=f"accept:{visit.step.pk}:{order.pk}",
        occurred_at=at,
        lead=order.lead,
        visitor_id=visit.visitor_id,
        refs=dataclasses.replace(visit.refs, order_id=order.pk),
    )
    return selectors.next_step(step=visit.step, outcome="accept")


def step_purchase_done(*, step: Step, order: Order) -> bool:
    """Whether what this step sells has been paid for on ``order`` (the webhook decides)."""
    if step.kind == Step.Kind.ORDER_FORM:
        return order.status in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED)
    return step.offer is not None and order.lines.filter(offer=step.offer).exists()
