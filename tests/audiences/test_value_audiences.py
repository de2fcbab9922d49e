"""Audiences on predicted lifetime value: the rule conditions, the presets, and the value-based Meta custom audience
that sends each member's predicted value as LOOKALIKE_VALUE (through the SDK, to the Graph stand-in)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from facebook_business.session import FacebookSession

from analytics import services, value
from analytics.models import CustomerValue
from audiences.models import Connection, Destination, SyncLedger
from audiences.presets import presets
from audiences.rules import rule_members, rule_problems
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from integrations.meta import audiences as meta_audiences
from tests.clv_history import buy
from tests.factories import AudienceFactory, ConsentFactory, destination_make
from tests.fakes.meta_graph import MetaGraphFake

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-" + "v" * 40


@pytest.fixture
def graph(monkeypatch):
    fake = MetaGraphFake(access_token=TOKEN)
    monkeypatch.setattr(FacebookSession, "GRAPH", fake.url)
    yield fake
    fake.stop()


@pytest.fixture
def scored(history):
    leads, offer = history
    (fit,) = value.clv_refresh()
    assert fit.usable, fit.reason
    return leads, offer, {v.lead_id: v for v in CustomerValue.objects.filter(currency="USD")}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"value": {"top_percent": 10}}, 'rule.value.currency: expected the currency of the predictions, e.g. "USD".'),
        ({"value": {"currency": "USD"}}, "rule.value: name at least one of top_percent"),
        ({"value": {"currency": "USD", "top_percent": 0}}, "rule.value.top_percent: expected a whole per cent"),
        ({"value": {"currency": "USD", "p_alive_below": 1.5}}, "rule.value.p_alive_below: expected a probability"),
        (
            {"value": {"currency": "USD", "p_alive_at_least": 0.7, "p_alive_below": 0.3}},
            "rule.value.p_alive_below: must be above p_alive_at_least",
        ),
        ({"value": {"currency": "USD", "min_expected_purchases": -1}}, "rule.value.min_expected_purchases"),
        ({"value": {"currency": "USD", "top": 5}}, "rule.value.top: unknown setting"),
    ],
)
def test_bad_value_conditions_say_what_to_fix(rule, message):
    problems = rule_problems(rule)
    assert any(problem.startswith(message) for problem in problems), problems


def test_value_conditions_select_by_the_last_prediction(scored):
    _, _, scores = scored
    ranked = sorted(scores.values(), key=lambda v: -v.predicted_value_minor)
    top = set(rule_members({"value": {"currency": "USD", "top_percent": 10}}).values_list("pk", flat=True))
    # PERCENT_RANK < 0.1: the buyers ranked in the first tenth (ties share the rank of their first).
    cut = ranked[int(len(ranked) * 0.1) - 1].predicted_value_minor
    assert top == {v.lead_id for v in ranked if v.predicted_value_minor > cut} | (
        {v.lead_id for v in ranked if v.predicted_value_minor == cut} & top
    )
    assert 0 < len(top) <= len(ranked) * 0.1
    at_risk = {"value": {"currency": "USD", "p_alive_at_least": 0.3, "p_alive_below": 0.7}}
    assert set(rule_members(at_risk).values_list("pk", flat=True)) == {
        v.lead_id for v in scores.values() if 0.3 <= v.p_alive < 0.7
    }
    rich = {"value": {"currency": "USD", "min_predicted_minor": 10_000, "min_expected_purchases": 1.5}}
    assert set(rule_members(rich).values_list("pk", flat=True)) == {
        v.lead_id for v in scores.values() if v.predicted_value_minor >= 10_000 and v.expected_purchases >= 1.5
    }
    assert not rule_members({"value": {"currency": "EUR", "min_predicted_minor": 0}}).exists()


def test_the_lifetime_value_presets_are_valid_rules_that_select_buyers(scored):
    _, _, scores = scored
    chosen = {p.key: p.rule for p in presets()}
    for key in ("valuable_at_risk", "lapsed_buyers", "top_predicted_value"):
        assert rule_problems(chosen[key]) == [], key
    lapsed = set(rule_members(chosen["lapsed_buyers"]).values_list("pk", flat=True))
    assert lapsed == {v.lead_id for v in scores.values() if v.p_alive < 0.3}
    at_risk = set(rule_members(chosen["valuable_at_risk"]).values_list("pk", flat=True))
    assert at_risk <= {v.lead_id for v in scores.values() if 0.3 <= v.p_alive < 0.7}


def test_only_a_meta_destination_with_a_currency_can_be_value_based():
    audience = AudienceFactory.create()
    google = Destination(
        audience=audience,
        name="G",
        connection=Connection(platform="google", account_id="123-456-7890"),
        value_based=True,
        value_currency="USD",
    )
    with pytest.raises(ValidationError, match="Only Meta custom audiences"):
        google.clean()
    meta = Destination(
        audience=audience, name="M", connection=Connection(platform="meta", account_id="act_1"), value_based=True
    )
    with pytest.raises(ValidationError, match="Name the currency"):
        meta.clean()


def test_a_value_based_meta_audience_carries_each_members_predicted_value(graph, scored):
    leads, offer, scores = scored
    consenting = leads[:120]
    for lead in consenting:
        ConsentFactory.create(lead=lead)
    audience = AudienceFactory.create(rule={"value": {"currency": "USD", "min_predicted_minor": 0}})
    audience_refresh(audience=audience)
    destination = destination_make(
        audience=audience,
        name="Value seed",
        platform="meta",
        account_id="act_1234567890",
        credentials=TOKEN,
        value_based=True,
        value_currency="USD",
    )
    run = destination_sync(destination=destination)
    assert run.status == "succeeded", run.error
    destination.refresh_from_db()
    remote = destination.remote_audience_id
    assert graph.audiences[remote]["value_based"] is True
    sent = graph.values[remote]
    assert len(sent) == len(consenting)  # consent still gates who goes
    by_lead = {
        entry.lead_id: float(entry.hashes[meta_audiences.VALUE]) for entry in SyncLedger.objects.filter(state="added")
    }
    for lead in consenting:
        predicted = scores[lead.pk].predicted_value_minor / 100
        assert by_lead[lead.pk] == pytest.approx(predicted, rel=0.05, abs=0.005)
    assert sorted(sent.values()) == sorted(by_lead.values())
    assert all(isinstance(v, float) and v >= 0 for v in sent.values())
    add = next(r for r in graph.requests if r["path"].endswith("/users") and r["method"] == "POST")
    assert '"LOOKALIKE_VALUE"' in add["params"]["payload"]

    # A refit on the same history changes no value: nothing is resent.
    value.clv_refresh()
    again = destination_sync(destination=destination)
    assert (again.to_add, again.to_update, again.sent) == (0, 0, 0)

    # A member buys again: their value changes, and only they are sent again, with the new value.
    buyer = consenting[0]
    before = by_lead[buyer.pk]
    for days in (3, 2, 1):
        buy(buyer, offer, timezone.now() - dt.timedelta(days=days), f"again-{days}")
    services.rollups_catch_up()
    value.clv_refresh()
    changed = destination_sync(destination=destination)
    assert changed.status == "succeeded", changed.error
    assert changed.to_update >= 1
    after = float(SyncLedger.objects.get(destination=destination, lead=buyer).hashes[meta_audiences.VALUE])
    assert after != before
    assert after in graph.values[remote].values()
    assert len(graph.values[remote]) == len(consenting)


def test_a_plain_meta_audience_refuses_values_and_a_value_based_one_requires_them(graph):
    plain = meta_audiences.audience_create(access_token=TOKEN, ad_account_id="act_1", name="Plain")
    seeded = meta_audiences.audience_create(access_token=TOKEN, ad_account_id="act_1", name="Seed", value_based=True)
    row = meta_audiences.UploadRow(key="1", hashes={"EMAIL": "a" * 64, meta_audiences.VALUE: "12"})
    with pytest.raises(meta_audiences.IntegrationPermanentError, match="only accepted by value-based"):
        meta_audiences.MetaUploader(access_token=TOKEN, audience_id=plain, value_based=True).add([row], last=True)
    with pytest.raises(meta_audiences.IntegrationPermanentError, match="must include LOOKALIKE_VALUE"):
        meta_audiences.MetaUploader(access_token=TOKEN, audience_id=seeded).add([row], last=True)
    result = meta_audiences.MetaUploader(access_token=TOKEN, audience_id=seeded, value_based=True).add([row], last=True)
    assert result.accepted == 1
    assert graph.values[seeded] == {(("EMAIL", "a" * 64),): 12.0}
