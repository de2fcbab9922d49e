"""Every report equals a plain-Python evaluation of docs/metrics.md over the raw rows, on randomized histories made
through the real services (purchases through ``payment_succeeded``, refunds, lost and won disputes, coupons, a
split test, two currencies); and rollups kept incrementally, in any batch sizes, equal a rebuild from scratch."""

import datetime as dt
import uuid
from collections import defaultdict

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import reports, services
from analytics.models import (
    Buyer,
    ChannelDay,
    CohortCell,
    DistinctDay,
    Exposure,
    LeadFact,
    LeadSeriesDay,
    LineFact,
    OrderDay,
    OrderFact,
    RfmCell,
    SalesDay,
    VisitorValue,
)
from funnels.models import Variant
from funnels.selectors import CONVERSION_EVENTS
from leads.contracts import EventRefs
from leads.models import Event, Lead, Touch
from leads.services import event_record
from offers.books import dispute_close, dispute_record, refund_record
from offers.models import Coupon, Order, OrderLine, Payment
from offers.orders import order_create
from offers.payments import PageOrigin, chargeback_event_record, payment_succeeded, refund_event_record
from tests.factories import LeadFactory, OfferFactory, ladder_funnel

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
SINCE, UNTIL = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=2)


def at(days_ago, hour=12):
    day = TODAY - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)), timezone.get_default_timezone())


@pytest.fixture
def world():
    funnel, steps = ladder_funnel()
    variants = [Variant.objects.create(step=steps["order"], name=n, weight=1) for n in ("A", "B")]
    euro = OfferFactory.create(role="core", amount_minor=5000, currency="EUR")
    coupon = Coupon.objects.create(code="HALF", kind="percent", percent_off=50)
    coupon.offers.add(steps["order"].offer)  # type: ignore[arg-type]
    return funnel, steps, variants, euro


visitor_plans = st.lists(
    st.fixed_dictionaries(
        {
            "views": st.lists(
                st.tuples(st.sampled_from(["optin", "order", "upsell", "downsell"]), st.integers(0, 9)), max_size=4
            ),
            "optin": st.one_of(st.none(), st.integers(0, 9)),
            "buy": st.one_of(st.none(), st.integers(0, 9)),
            "bump": st.booleans(),
            "coupon": st.booleans(),
            "upsell": st.booleans(),
            "refund": st.sampled_from(["", "full", "partial", "bump", "lost", "won"]),
            "euro": st.one_of(st.none(), st.integers(0, 40)),
            "touch": st.sampled_from([None, ("facebook", "cold", ""), ("", "", "gclid-1"), ("", "spring", "")]),
        }
    ),
    min_size=1,
    max_size=6,
)


def build(plans, world, fold_every):
    """Replay ``plans`` through the services, folding the log into the rollups every ``fold_every`` steps."""
    funnel, steps, variants, euro = world
    counter = 0

    def tick():
        nonlocal counter
        counter += 1
        if fold_every and counter % fold_every == 0:
            services.rollups_advance(limit=7)

    for index, plan in enumerate(plans):
        visitor = uuid.UUID(int=index + 1)
        lead = LeadFactory.create()
        if plan["touch"]:
            source, campaign, gclid = plan["touch"]
            for kind in ("first", "last"):
                Touch.objects.create(
                    lead=lead, kind=kind, occurred_at=at(9), utm_source=source, utm_campaign=campaign, gclid=gclid
                )
        variant = variants[index % 2]
        for step_key, days in plan["views"]:
            step = steps[step_key]
            event_record(
                type="page_view",
                idempotency_key=f"pv:{index}:{step_key}:{days}",
                occurred_at=at(days),
                visitor_id=visitor,
                refs=EventRefs(
                    funnel_id=funnel.pk, step_id=step.pk, variant_id=variant.pk if step_key == "order" else None
                ),
            )
            tick()
        if plan["optin"] is not None:
            event_record(
                type="optin",
                idempotency_key=f"optin:{index}",
                occurred_at=at(plan["optin"]),
                lead=lead,
                visitor_id=visitor,
                refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk),
            )
            tick()
        if plan["buy"] is not None:
            order_step = steps["order"]
            offers = [order_step.offer, *([order_step.bump_offer] if plan["bump"] else [])]
            order = order_create(
                lead=lead, offers=offers, funnel_id=funnel.pk, coupon=Coupon.objects.get() if plan["coupon"] else None
            )
            origin = PageOrigin(visitor_id=visitor, step_id=order_step.pk, variant_id=variant.pk)
            payment = Payment.objects.create(
                order=order, amount_minor=order.total_minor, currency="USD", status="pending",
                created_at=at(plan["buy"]), **origin.as_fields(),
            )  # fmt: skip
            order.lines.update(payment=payment)
            payment_succeeded(
                payment=payment, intent_id=f"pi_{index}", amount_minor=order.total_minor, at=at(plan["buy"], 13)
            )
            tick()
            if plan["upsell"]:
                upsell = steps["upsell"]
                extra = Payment.objects.create(
                    order=order, offer=upsell.offer, amount_minor=upsell.offer.amount_minor, currency="USD",
                    status="pending", created_at=at(plan["buy"]), visitor_id=visitor, step_id=upsell.pk,
                )  # fmt: skip
                payment_succeeded(
                    payment=extra,
                    intent_id=f"pi_{index}_up",
                    amount_minor=upsell.offer.amount_minor,
                    at=at(plan["buy"], 14),
                )
                event_record(
                    type="upsell_accepted",
                    idempotency_key=f"accept:{index}",
                    occurred_at=at(plan["buy"], 14),
                    lead=lead,
                    visitor_id=visitor,
                    refs=EventRefs(funnel_id=funnel.pk, step_id=upsell.pk, order_id=order.pk),
                )
                tick()
            money_back(plan["refund"], payment, index)
            tick()
        if plan["euro"] is not None:
            order = order_create(lead=lead, offers=[euro])
            payment = Payment.objects.create(
                order=order, amount_minor=5000, currency="EUR", status="pending", created_at=at(plan["euro"])
            )
            order.lines.update(payment=payment)
            payment_succeeded(payment=payment, intent_id=f"pi_{index}_eur", amount_minor=5000, at=at(plan["euro"], 9))
            tick()


def money_back(kind, payment, index):
    payment.refresh_from_db()
    lines = list(payment.lines.order_by("id"))
    if kind in ("full", "partial", "bump"):
        amount = {"full": payment.amount_minor, "partial": max(payment.amount_minor // 3, 1)}.get(kind, 0)
        if kind == "bump":
            bump = [line for line in lines if line.role == "order_bump"]
            if not bump:
                return
            amount = bump[0].charged_minor
        refund = refund_record(payment=payment, stripe_refund_id=f"re_{index}", amount_minor=amount, created_at=at(0))
        refund_event_record(refund=refund)
    elif kind in ("lost", "won"):
        dispute, _ = dispute_record(payment=payment, stripe_dispute_id=f"dp_{index}", amount_minor=payment.amount_minor)
        dispute_close(dispute=dispute, won=kind == "won", closed_at=at(0))
        dispute.refresh_from_db()
        if dispute.status == "lost":
            chargeback_event_record(dispute=dispute)


# --- the reference: docs/metrics.md in plain Python over the raw rows ---------------------------------------------


def local(moment):
    return timezone.localtime(moment).date()


def in_range(moment, since=SINCE, until=UNTIL):
    return since <= local(moment) < until


def reference_funnel(funnel, steps, since=SINCE, until=UNTIL):
    events = list(Event.objects.filter(funnel_id=funnel.pk))
    paid = [
        o for o in Order.objects.filter(funnel_id=funnel.pk, paid_at__isnull=False) if in_range(o.paid_at, since, until)
    ]
    lines = list(OrderLine.objects.filter(order__in=paid).select_related("payment"))
    out = {}
    for key, step in steps.items():
        conversion_types = CONVERSION_EVENTS[step.kind]
        views = {
            e.visitor_id
            for e in events
            if e.type == "page_view" and e.step_id == step.pk and in_range(e.occurred_at, since, until)
        }
        conversions = {
            e.visitor_id for e in events
            if e.type in conversion_types and e.step_id == step.pk and e.visitor_id
            and in_range(e.occurred_at, since, until)
        }  # fmt: skip
        mine = [line for line in lines if line.payment and line.payment.step_id == step.pk]
        gross = sum(line.amount_minor - line.discount_minor for line in mine)
        refunds = sum(line.refunded_minor + line.chargeback_minor for line in mine)
        out[key] = {
            "visitors": len(views),
            "conversions": len(conversions),
            "orders": sum(1 for line in mine if line.role != "order_bump"),
            "bump_orders": sum(1 for line in mine if line.role == "order_bump"),
            "gross_minor": gross,
            "refunds_minor": refunds,
        }
    gross = sum(o.total_minor for o in paid)
    refunds = sum(o.refunded_minor + o.chargeback_minor for o in paid)
    totals = {
        "entries": out["optin"]["visitors"],
        "orders": len(paid),
        "gross_minor": gross,
        "refunds_minor": refunds,
        "net_minor": gross - refunds,
        "refunded_orders": sum(1 for o in paid if o.refunded_minor + o.chargeback_minor),
    }
    return out, totals


def reference_split(funnel, step, variant_id):
    events = list(Event.objects.filter(step_id=step.pk))
    visitors = {
        e.visitor_id for e in events if e.type == "page_view" and e.variant_id == variant_id and in_range(e.occurred_at)
    }
    conversions = {
        e.visitor_id for e in events if e.type == "purchase" and e.variant_id == variant_id and in_range(e.occurred_at)
    }
    first: dict = {}
    for e in sorted((e for e in events if e.type == "page_view" and e.variant_id), key=lambda e: (e.occurred_at, e.pk)):
        first.setdefault(e.visitor_id, e)
    exposed = [v for v, e in first.items() if e.variant_id == variant_id and in_range(e.occurred_at)]
    money_orders = set(
        Event.objects.filter(type__in=["purchase", "refund", "chargeback"]).values_list("order_id", flat=True)
    )
    net: dict = defaultdict(int)
    for line in OrderLine.objects.select_related("order", "payment").filter(order_id__in=money_orders):
        order, visitor = line.order, line.payment.visitor_id if line.payment else None
        if order.paid_at and order.funnel_id == funnel.pk and line.currency == "USD" and visitor:
            net[visitor] += line.amount_minor - line.discount_minor - line.refunded_minor - line.chargeback_minor
    values = [net.get(v, 0) for v in exposed]
    return len(visitors), len(conversions), len(exposed), sum(1 for y in values if y), sum(values)


def snapshot():
    tables = [
        DistinctDay, Exposure, LineFact, OrderFact, SalesDay, OrderDay, VisitorValue, Buyer, CohortCell, RfmCell,
        LeadFact, ChannelDay, LeadSeriesDay,
    ]  # fmt: skip
    skip = {"id"}
    return {
        model.__name__: sorted(
            tuple(str(getattr(row, f.attname)) for f in model._meta.concrete_fields if f.attname not in skip)
            for row in model._default_manager.all()
        )
        for model in tables
    }


def reset():
    for model in services.DERIVED:
        model._default_manager.all().delete()
    from analytics.models import RollupCursor, RollupGap

    RollupCursor.objects.all().delete()
    RollupGap.objects.all().delete()
    Event.objects.all().delete()
    from offers.models import Dispute, Refund

    Dispute.objects.all().delete()
    Refund.objects.all().delete()
    OrderLine.objects.all().delete()
    Payment.objects.all().delete()
    from offers.models import CouponRedemption

    CouponRedemption.objects.all().delete()
    Order.objects.all().delete()
    Lead.objects.all().delete()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(plans=visitor_plans, fold_every=st.sampled_from([0, 1, 3]))
def test_the_funnel_report_equals_the_reference_and_incremental_equals_rebuild(world, plans, fold_every):
    reset()
    funnel, steps, variants, euro = world
    build(plans, world, fold_every)
    services.rollups_catch_up(limit=5)
    kept = snapshot()
    services.rollups_rebuild(limit=3)
    assert snapshot() == kept

    report = reports.funnel_report(funnel=funnel, period=reports.Period(SINCE, UNTIL))
    expected_steps, expected_totals = reference_funnel(funnel, steps)
    by_slug = {row.step: row for row in report.steps}
    for key, expected in expected_steps.items():
        row = by_slug[steps[key].slug]
        got = {name: getattr(row, name) for name in expected}
        if row.bump_orders is None:
            got["bump_orders"] = expected["bump_orders"]
        assert got == expected, key
    totals = report.totals
    assert {name: getattr(totals, name) for name in expected_totals} == expected_totals

    # The previous period is the same report for the days just before.
    _, before = reference_funnel(funnel, steps, SINCE - (UNTIL - SINCE), SINCE)
    assert report.previous is not None
    assert (report.previous.orders, report.previous.net_minor, report.previous.entries) == (
        before["orders"], before["net_minor"], before["entries"],
    )  # fmt: skip

    # The split test on the order form: per variant, visitors and conversions in the range, and for exposures in
    # the range (a visitor's earliest page view with a variant) their net revenue in the funnel.
    split = reports.split_test_report(step=steps["order"], period=reports.Period(SINCE, UNTIL), maturity_days=0)
    assert {row.name: reference_split(funnel, steps["order"], row.variant_id) for row in split.variants} == {
        row.name: (row.visitors, row.conversions, row.matured_visitors, row.buyers, row.net_minor)
        for row in split.variants
    }


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(plans=visitor_plans)
def test_offers_cohorts_and_rfm_equal_the_reference_in_each_currency(world, plans):
    reset()
    build(plans, world, 0)
    services.rollups_catch_up()
    period = reports.Period(TODAY - dt.timedelta(days=60), TODAY + dt.timedelta(days=1))
    paid_lines = [
        line
        for line in OrderLine.objects.select_related("order")
        if line.order.paid_at and in_range(line.order.paid_at, period.since, period.until)
    ]
    buyers: dict[tuple[str, str], set[int]] = defaultdict(set)
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in paid_lines:
        key = (line.offer.slug, line.currency)
        buyers[key].add(line.order.lead_id)
        expected[key][0] += 1
        expected[key][1] += line.amount_minor - line.discount_minor
        expected[key][2] += line.refunded_minor + line.chargeback_minor
    got = {(r.offer, r.currency): r for r in reports.offers_report(period=period)}
    assert set(got) == set(expected)
    for key, (units, gross, refunds) in expected.items():
        assert (got[key].buyers, got[key].units, got[key].gross_minor, got[key].refunds_minor) == (
            len(buyers[key]), units, gross, refunds,
        )  # fmt: skip

    # Channels: leads (with events) created in the period and orders paid in it, by first and last touch.
    def channel(lead_id, kind):
        touch = Touch.objects.filter(lead_id=lead_id, kind=kind).first()
        if touch is None:
            return "(none)", ""
        source = touch.utm_source or (
            "meta (click id)" if touch.fbclid else "google (click id)" if touch.gclid else "(direct)"
        )
        return source, touch.utm_campaign

    with_events = set(Event.objects.exclude(lead=None).values_list("lead_id", flat=True))
    expected_channels: dict = defaultdict(lambda: [0, set(), 0, 0, 0])
    orders_with_events = set(
        Event.objects.filter(type__in=["purchase", "refund", "chargeback"]).values_list("order_id", flat=True)
    )
    paid = [
        o
        for o in Order.objects.filter(pk__in=orders_with_events).exclude(paid_at=None)
        if in_range(o.paid_at, period.since, period.until)
    ]
    for kind in ("first", "last"):
        for lead in Lead.objects.filter(pk__in=with_events):
            if in_range(lead.created_at, period.since, period.until):
                currencies = {o.currency for o in paid if channel(o.lead_id, kind) == channel(lead.pk, kind)} or {"USD"}
                for currency in currencies:
                    expected_channels[(kind, *channel(lead.pk, kind), currency)][0] += 1
        for order in paid:
            row = expected_channels[(kind, *channel(order.lead_id, kind), order.currency)]
            row[1].add(order.lead_id)
            row[2] += 1
            row[3] += order.total_minor
            row[4] += order.total_minor - order.refunded_minor - order.chargeback_minor
    got_channels = {
        (r.touch, r.source, r.campaign, r.currency): [r.leads, r.buyers, r.orders, r.gross_minor, r.net_minor]
        for r in reports.channels_report(period=period)
    }
    assert got_channels == {k: [v[0], len(v[1]), v[2], v[3], v[4]] for k, v in expected_channels.items()}

    for currency in ("USD", "EUR"):
        purchases = defaultdict(list)  # lead → (day, net) of orders with a positive net
        for order in Order.objects.filter(currency=currency, paid_at__isnull=False):
            net = order.total_minor - order.refunded_minor - order.chargeback_minor
            if net > 0:
                purchases[order.lead_id].append((local(order.paid_at), net))
        rfm = reports.rfm_report(currency=currency)
        assert rfm.buyers == len(purchases)
        assert sum(s.net_minor for s in rfm.segments) == sum(net for p in purchases.values() for _, net in p)
        # Cohorts: each buyer in the month of their first purchase, and in every month they bought.
        cells = defaultdict(set)
        for lead_id, bought in purchases.items():
            cohort = min(day for day, _ in bought).replace(day=1)
            for day, _ in bought:
                cells[(cohort, day.replace(day=1))].add(lead_id)
        rows = {
            r.cohort: r
            for r in reports.cohorts_report(
                period=reports.Period(TODAY - dt.timedelta(days=400), TODAY + dt.timedelta(days=1)), currency=currency
            )
        }
        for (cohort, month), members in cells.items():
            cohort_row = rows[cohort.strftime("%Y-%m")]
            size = len(cells[(cohort, cohort)])
            assert cohort_row.buyers == size
            months = (month.year - cohort.year) * 12 + month.month - cohort.month
            assert cohort_row.retention[months] == round(len(members) / size, 6)


def test_rfm_scores_are_rank_quintiles_with_shared_ties_and_segments_cover_the_grid():
    cells = [(TODAY - dt.timedelta(days=d), f, 1, 0) for d, f in [(1, 5), (2, 4), (30, 1), (60, 1), (90, 2)]]
    scale = reports.rfm_scale(cells, TODAY)
    # Recency: the most recent buyer has 4 buyers ranked worse (older): 1 + 5·4 // 5 = 5; the oldest none: 1.
    assert [scale.recency[(TODAY - c[0]).days] for c in cells] == [5, 4, 3, 2, 1]
    # Frequency ties (two buyers with 1 purchase) share the score of their rank: none worse → 1.
    assert [scale.frequency[c[1]] for c in cells] == [5, 4, 1, 1, 3]
    assert {reports.segment_of(r, f) for r in range(1, 6) for f in range(1, 6)} == {
        name for name, _, _ in reports.SEGMENTS
    }


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(plans=visitor_plans)
def test_each_buyers_rfm_scores_equal_ranking_every_buyer(world, plans):
    """R, F and M of every buyer, by the scale, equal ``1 + floor(5 × strictly worse / all)`` counted directly."""
    reset()
    build(plans, world, 0)
    services.rollups_catch_up()
    total, rows = reports.rfm_buyers(currency="USD", limit=1000)
    assert total == len(rows)
    recency = [(TODAY - row.last_day).days for row in rows]
    for row, days in zip(rows, recency, strict=True):
        assert row.recency == 1 + 5 * sum(1 for other in recency if other > days) // total
        assert row.frequency == 1 + 5 * sum(1 for other in rows if other.orders < row.orders) // total
        assert row.monetary == 1 + 5 * sum(1 for other in rows if other.net_minor < row.net_minor) // total
        assert row.segment == reports.segment_of(row.recency, row.frequency)
    for name, _, _ in reports.SEGMENTS:
        count, members = reports.rfm_buyers(currency="USD", segment=name, limit=1000)
        assert count == sum(1 for row in rows if row.segment == name) == len(members)
