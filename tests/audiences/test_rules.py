"""Audience rules: precise validation messages, and one SQL query that selects exactly the right leads."""

import re

import pytest
from django.db import connection

from audiences.presets import presets
from audiences.rules import RuleInvalid, rule_members, rule_problems, rule_q
from leads.models import Consent, Tag
from offers.models import OrderLine
from tests.factories import (
    ConsentFactory,
    EventFactory,
    FunnelFactory,
    LeadFactory,
    OfferFactory,
    OrderFactory,
    days_ago,
)

pytestmark = pytest.mark.django_db


def buy(lead, offer, *, when=None, status="paid", refunded=0):
    when = when or days_ago(1)
    order = OrderFactory.create(
        lead=lead,
        status=status,
        subtotal_minor=offer.amount_minor,
        total_minor=offer.amount_minor,
        refunded_minor=refunded,
        created_at=when,
        paid_at=when,
    )
    OrderLine.objects.create(
        order=order,
        offer=offer,
        role=offer.role,
        description=offer.name,
        amount_minor=offer.amount_minor,
        currency=offer.currency,
        created_at=when,
    )
    return order


def emails(rule):
    return sorted(lead.email for lead in rule_members(rule))


def preset(key, **kwargs):
    return next(p.rule for p in presets(**kwargs) if p.key == key)


@pytest.fixture
def ladder():
    tripwire = OfferFactory.create(role="tripwire", amount_minor=700)
    core = OfferFactory.create(role="core", amount_minor=9700)
    return tripwire, core


def test_opted_in_without_a_tripwire(ladder):
    tripwire, _ = ladder
    waiting = LeadFactory.create(email="waiting@example.com")
    EventFactory.create(lead=waiting, type="optin", occurred_at=days_ago(2))
    buyer = LeadFactory.create(email="buyer@example.com")
    EventFactory.create(lead=buyer, type="optin", occurred_at=days_ago(3))
    buy(buyer, tripwire)
    old = LeadFactory.create(email="old@example.com")
    EventFactory.create(lead=old, type="optin", occurred_at=days_ago(30))
    assert emails(preset("optin_no_tripwire", days=7)) == ["waiting@example.com"]


def test_bought_a_not_b_and_the_ladder_presets(ladder):
    tripwire, core = ladder
    only_tripwire, both = LeadFactory.create(email="a@example.com"), LeadFactory.create(email="b@example.com")
    buy(only_tripwire, tripwire)
    buy(both, tripwire)
    buy(both, core)
    assert emails(preset("tripwire_not_core")) == ["a@example.com"]
    assert emails(preset("bought_a_not_b", offer_a=tripwire.pk, offer_b=core.pk)) == ["a@example.com"]
    assert emails(preset("recent_customers", days=30)) == ["a@example.com", "b@example.com"]


def test_pending_and_fully_refunded_orders(ladder):
    tripwire, _ = ladder
    pending, refunded = LeadFactory.create(email="p@example.com"), LeadFactory.create(email="r@example.com")
    buy(pending, tripwire, status="pending")
    buy(refunded, tripwire, status="refunded", refunded=700)
    EventFactory.create(lead=refunded, type="refund")
    assert emails({"purchase": {"offer": tripwire.pk}}) == ["r@example.com"]
    assert emails({"purchase": {"offer": tripwire.pk, "not_refunded": True}}) == []
    assert emails(preset("refunded")) == ["r@example.com"]


def test_abandoned_checkout(ladder):
    tripwire, _ = ladder
    gone, came_back = LeadFactory.create(email="gone@example.com"), LeadFactory.create(email="back@example.com")
    for lead in (gone, came_back):
        EventFactory.create(lead=lead, type="checkout_started", occurred_at=days_ago(1))
    buy(came_back, tripwire, when=days_ago(0.5))
    assert emails(preset("abandoned_checkout", days=7)) == ["gone@example.com"]


def test_event_counts_windows_and_campaigns():
    funnel = FunnelFactory.create()
    twice, once = LeadFactory.create(email="twice@example.com"), LeadFactory.create(email="once@example.com")
    for when in (days_ago(1), days_ago(2)):
        EventFactory.create(lead=twice, type="page_view", funnel_id=funnel.pk, occurred_at=when)
    EventFactory.create(
        lead=once,
        type="page_view",
        funnel_id=funnel.pk,
        occurred_at=days_ago(40),
        properties={"utm_source": "facebook", "utm_campaign": "spring"},
    )
    assert emails({"event": {"type": "page_view", "funnel": funnel.pk, "min_count": 2}}) == ["twice@example.com"]
    assert emails({"event": {"type": "page_view", "within_days": 7}}) == ["twice@example.com"]
    start, end = days_ago(41).date().isoformat(), days_ago(39).date().isoformat()
    assert emails({"event": {"type": "page_view", "between": [start, end]}}) == ["once@example.com"]
    assert emails({"event": {"type": "page_view", "utm_source": "Facebook"}}) == ["once@example.com"]
    assert emails({"any": [{"event": {"type": "page_view", "min_count": 2}}, {"lead": {"country": "FR"}}]}) == [
        "twice@example.com"
    ]


def test_lead_fields_and_current_consent():
    vip = Tag.objects.create(name="vip")
    fr = LeadFactory.create(email="fr@example.com", country="FR", postal_code="75001", score=40)
    fr.tags.add(vip)
    us = LeadFactory.create(email="us@example.com", country="US", region="California", score=5)
    ConsentFactory.create(lead=fr, occurred_at=days_ago(3))
    ConsentFactory.create(lead=us, occurred_at=days_ago(3))
    ConsentFactory.create(lead=us, status=Consent.Status.WITHDRAWN, occurred_at=days_ago(1))
    assert emails({"lead": {"country": ["fr", "DE"]}}) == ["fr@example.com"]
    assert emails({"lead": {"region": "california"}}) == ["us@example.com"]
    assert emails({"lead": {"postal_code_prefix": "750"}}) == ["fr@example.com"]
    assert emails({"lead": {"tags_any": ["vip"]}}) == ["fr@example.com"]
    assert emails({"lead": {"min_score": 10}}) == ["fr@example.com"]
    assert emails({"lead": {"consent": "ad_audiences"}}) == ["fr@example.com"]  # the later withdrawal wins
    assert emails({"not": {"lead": {"consent": "ad_audiences"}}}) == ["us@example.com"]


def test_top_buyers_by_revenue_net_of_refunds():
    offers = [OfferFactory.create(amount_minor=amount) for amount in (100, 200, 300, 400, 500)]
    for i, offer in enumerate(offers):
        buy(LeadFactory.create(email=f"c{i}@example.com"), offer)
    big_but_refunded = LeadFactory.create(email="refunded@example.com")
    buy(big_but_refunded, OfferFactory.create(amount_minor=10_000), status="partially_refunded", refunded=9_950)
    assert emails(preset("top_revenue")) == ["c4@example.com"]  # the top 20 % of six buyers by net revenue
    assert emails({"revenue": {"top_percent": 50, "currency": "USD"}}) == [
        "c2@example.com",
        "c3@example.com",
        "c4@example.com",
    ]


def test_an_audience_is_one_query(ladder, django_assert_num_queries):
    tripwire, _ = ladder
    for i in range(20):
        lead = LeadFactory.create()
        EventFactory.create(lead=lead, type="optin")
        if i % 2:
            buy(lead, tripwire)
    rule = {"all": [preset("optin_no_tripwire"), {"lead": {"country": "US"}}, {"not": preset("refunded")}]}
    members = rule_members(rule)
    with django_assert_num_queries(1):
        assert len(list(members)) == 10


def test_erased_leads_are_never_members():
    from django.utils import timezone

    lead = LeadFactory.create()
    EventFactory.create(lead=lead, type="optin")
    lead.erased_at = timezone.now()
    lead.save()
    assert emails({"event": {"type": "optin"}}) == []


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"evnt": {}}, "rule: unknown condition 'evnt'; use all, any, not, event, purchase, lead, revenue or value."),
        ({"all": []}, "rule.all: expected a non-empty list of conditions."),
        ({"all": [{"event": {"type": "optin"}}, {"event": {"type": "signup"}}]}, "rule.all[1].event.type: expected"),
        ({"event": {"type": "optin", "funnel": 999999}}, "rule.event.funnel: funnel 999999 does not exist (deleted?)"),
        ({"purchase": {"offer": 999999}}, "rule.purchase.offer: offer 999999 does not exist (deleted?)"),
        (
            {"event": {"type": "optin", "within_days": 0}},
            "rule.event.within_days: expected a whole number of at least 1",
        ),
        (
            {"event": {"type": "optin", "within_days": 3, "between": ["2026-01-01", "2026-02-01"]}},
            "rule.event.between: use either within_days or between, not both.",
        ),
        ({"event": {"type": "optin", "between": ["2026-02-01", "2026-01-01"]}}, "the first date must be before"),
        ({"event": {"type": "optin", "colour": "red"}}, "rule.event.colour: unknown setting"),
        ({"lead": {"tags_any": ["nope"]}}, "rule.lead.tags_any: there is no tag 'nope'."),
        ({"lead": {"stage": "Nowhere"}}, "rule.lead.stage: there is no pipeline stage 'Nowhere'."),
        ({"purchase": {"min_amount_minor": 100}}, "give an amount together with its currency"),
        ({"revenue": {"top_percent": 0, "currency": "USD"}}, "rule.revenue.top_percent: expected a whole per cent"),
        ({"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {}}}}}}}}}}, "nest at most 8"),
        ([], "rule: expected one of all / any / not"),
    ],
)
def test_bad_rules_say_which_condition_and_what_is_wrong(rule, problem):
    problems = rule_problems(rule)
    assert any(problem in p for p in problems), problems
    with pytest.raises(RuleInvalid):
        rule_q(rule)


def test_every_preset_is_valid(ladder):
    tripwire, core = ladder
    for item in presets(offer_a=tripwire.pk, offer_b=core.pk):
        assert rule_problems(item.rule) == [], item.key


@pytest.mark.postgres
def test_the_standard_rules_use_indexes_on_postgresql(ladder):
    rule = preset("optin_no_tripwire")
    sql, params = rule_members(rule).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: ask which index would serve the plan
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Which index access the planner picks (a plain, index-only or bitmap scan) depends on the statistics the tests
    # before this one left; what matters is that an event index serves it and nothing scans a table.
    assert re.search(r"(Index (Only )?Scan using|Bitmap Index Scan on) event_\w+", plan), plan
    assert re.search(r"Index (Only )?Scan using \w+ on offers_order ", plan), plan
    for table in ("leads_event", "offers_order", "offers_orderline", "leads_lead"):
        assert f"Seq Scan on {table}" not in plan, plan


def test_negated_lead_conditions_keep_leads_whose_field_is_empty():
    from leads.models import Stage

    lost = Stage.objects.get(name="Lost")  # a standard stage, made by the migrations
    LeadFactory.create(email="lost@example.com", stage=lost, region="Bavaria", score=1)
    LeadFactory.create(email="plain@example.com")  # no stage, no region, no owner
    everyone_else = ["plain@example.com"]
    assert emails({"not": {"lead": {"stage": "Lost"}}}) == everyone_else
    assert emails({"not": {"lead": {"region": "bavaria"}}}) == everyone_else
    assert emails({"not": {"lead": {"postal_code_prefix": "80"}}}) == ["lost@example.com", "plain@example.com"]
    assert emails({"not": {"lead": {"min_score": 1}}}) == everyone_else
    assert emails({"all": [{"not": {"lead": {"stage": "Lost"}}}, {"not": {"lead": {"country": "DE"}}}]}) == (
        everyone_else
    )
    assert emails({"not": {"not": {"lead": {"stage": "Lost"}}}}) == ["lost@example.com"]


def test_utm_conditions_match_whatever_the_case_captured():
    lead = LeadFactory.create(email="caps@example.com")
    EventFactory.create(lead=lead, type="page_view", properties={"utm_source": "Facebook", "utm_campaign": "Spring"})
    assert emails({"event": {"type": "page_view", "utm_source": "facebook"}}) == ["caps@example.com"]
    assert emails({"event": {"type": "page_view", "utm_campaign": "SPRING"}}) == ["caps@example.com"]
    assert emails({"event": {"type": "page_view", "utm_campaign": "summer"}}) == []


def test_the_top_100_percent_is_every_buyer():
    offers = [OfferFactory.create(amount_minor=amount) for amount in (100, 200, 300)]
    for i, offer in enumerate(offers):
        buy(LeadFactory.create(email=f"b{i}@example.com"), offer)
    assert emails({"revenue": {"top_percent": 100, "currency": "USD"}}) == [
        "b0@example.com",
        "b1@example.com",
        "b2@example.com",
    ]


def test_a_country_that_is_not_a_code_is_refused_with_the_fix():
    assert rule_problems({"lead": {"country": ["US", "USA"]}}) == [
        "rule.lead.country: 'USA' is not a country code; use ISO 3166 alpha-2, e.g. US."
    ]


def test_regions_and_postal_codes_match_in_any_case_beyond_ascii():
    LeadFactory.create(email="ile@example.com", region="Île-de-France", postal_code="ÅB 100")
    LeadFactory.create(email="other@example.com", region="Bavaria", postal_code="80331")
    assert emails({"lead": {"region": "île-de-france"}}) == ["ile@example.com"]
    assert emails({"lead": {"region": "ÎLE-DE-FRANCE"}}) == ["ile@example.com"]
    assert emails({"lead": {"postal_code_prefix": "åb"}}) == ["ile@example.com"]
    assert emails({"not": {"lead": {"region": "île-de-france"}}}) == ["other@example.com"]
