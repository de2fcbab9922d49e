"""The score is the decayed sum of its log, whatever happens: events, a person's adjustments, rule changes and
rebuilds, a new half-life. Checked against a plain-Python reference after random sequences."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads import scoring
from leads.models import Lead, ScoreEvent, ScoringSettings
from leads.services import event_record
from pipeline.models import ScoreRule
from pipeline.services import pipeline_catch_up, scores_inactivity, scores_rebuild
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def reference_score(lead: Lead, now: dt.datetime) -> int:
    """Each entry's points halved once per half-life of age, summed, rounded to the nearest point (halves up)."""
    half_life = ScoringSettings.objects.get().half_life_days
    total = 0.0
    for entry in ScoreEvent.objects.filter(lead=lead):
        age_days = (now - entry.occurred_at).total_seconds() / 86_400
        total += entry.points * (0.5 ** (age_days / half_life) if half_life else 1.0)
    return math.floor(total + 0.5)


def score_of(lead: Lead, now: dt.datetime) -> int:
    lead.refresh_from_db()
    return scoring.score_at(lead.score_base, now, scoring.half_life_days())


def test_an_entry_loses_half_its_points_each_half_life_and_a_new_half_life_reweighs_the_log():
    lead = LeadFactory.create()
    ninety_days_ago = NOW - dt.timedelta(days=90)
    event_record(type="checkout_started", idempotency_key="c1", occurred_at=ninety_days_ago, lead=lead)
    pipeline_catch_up()
    entry = ScoreEvent.objects.get(lead=lead)
    assert (entry.points, entry.reason) == (10, "opened the order form")
    assert score_of(lead, NOW) == 5  # 10 points, one half-life (90 days) old

    scoring.scores_reweigh(half_life=30)  # three half-lives old now: 10 / 8 = 1.25
    assert score_of(lead, NOW) == 1
    scoring.scores_reweigh(half_life=None)
    assert score_of(lead, NOW) == 10


def test_once_per_lead_rules_count_the_first_event_only_and_replays_count_nothing_twice():
    lead = LeadFactory.create()
    for n in range(3):
        event_record(type="optin", idempotency_key=f"o{n}", occurred_at=NOW - dt.timedelta(days=3 - n), lead=lead)
    pipeline_catch_up()
    scores_rebuild()
    scores_rebuild()
    opted = ScoreEvent.objects.filter(lead=lead, reason="opted in")
    assert opted.count() == 1
    assert opted.get().occurred_at == NOW - dt.timedelta(days=3)


def test_going_quiet_costs_points_once_per_quiet_spell():
    lead = LeadFactory.create()
    event_record(type="page_view", idempotency_key="v1", occurred_at=NOW - dt.timedelta(days=40), lead=lead)
    pipeline_catch_up()
    assert scores_inactivity(now=NOW) == 1
    assert scores_inactivity(now=NOW) == 0
    entry = ScoreEvent.objects.get(lead=lead, reason="no activity for 30 days")
    assert entry.points == -5
    assert entry.occurred_at == NOW - dt.timedelta(days=10)
    event_record(type="page_view", idempotency_key="v2", occurred_at=NOW - dt.timedelta(days=45), lead=lead)
    pipeline_catch_up()  # an older event: the lead's last activity stays 40 days ago, the same quiet spell
    assert scores_inactivity(now=NOW) == 0
    event_record(type="page_view", idempotency_key="v3", occurred_at=NOW - dt.timedelta(days=31), lead=lead)
    pipeline_catch_up()  # active again, and quiet again for 31 days: a new spell
    assert scores_inactivity(now=NOW) == 1


def test_the_rebuild_command_shows_progress_and_keeps_a_persons_entries(capsys):
    lead = LeadFactory.create(score=7)
    event_record(type="optin", idempotency_key="o1", occurred_at=NOW, lead=lead)
    pipeline_catch_up()
    ScoreRule.objects.filter(reason="opted in").update(points=9)
    call_command("scores_rebuild")
    out = capsys.readouterr().out
    assert "events scored" in out
    assert "Scores rebuilt" in out
    assert sorted(ScoreEvent.objects.filter(lead=lead).values_list("points", flat=True)) == [7, 9]


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"),
            st.sampled_from(["optin", "checkout_started", "purchase", "refund", "upsell_accepted", "page_view"]),
            st.integers(0, 2),  # which lead
            st.integers(0, 400),  # days ago
            st.sampled_from(["tripwire", "core", "order_bump", ""]),
        ),
        st.tuples(st.just("adjust"), st.integers(-50, 50).filter(bool), st.integers(0, 2), st.integers(0, 400)),
        st.tuples(st.just("rule"), st.integers(-40, 40).filter(bool), st.booleans()),
        st.tuples(st.just("half_life"), st.sampled_from([None, 7, 30, 90, 365, 3650])),
        st.tuples(
            st.just("advance"),
        ),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_the_score_is_always_the_decayed_sum_of_its_log(ops):
    ScoringSettings.objects.update_or_create(pk=1, defaults={"half_life_days": 90})
    leads = [LeadFactory.create() for _ in range(3)]
    try:
        for op in ops:
            if op[0] == "event":
                _, type_, who, days, role = op
                event_record(
                    type=type_,
                    idempotency_key=str(uuid.uuid4()),
                    occurred_at=NOW - dt.timedelta(days=days),
                    lead=leads[who],
                    properties={"role": role} if role else {},
                )
            elif op[0] == "adjust":
                _, points, who, days = op
                scoring.score_events_record(
                    entries=[
                        scoring.ScoreEntry(
                            lead_id=leads[who].pk,
                            points=points,
                            reason="by hand",
                            occurred_at=NOW - dt.timedelta(days=days),
                            key=f"manual:{uuid.uuid4()}",
                        )
                    ]
                )
            elif op[0] == "rule":
                _, points, rebuild = op
                ScoreRule.objects.create(reason=f"custom {points}", event_type="page_view", points=points)
                if rebuild:
                    scores_rebuild()
            elif op[0] == "half_life":
                scoring.scores_reweigh(half_life=op[1])
            else:
                pipeline_catch_up()
            for lead in leads:
                assert score_of(lead, NOW) == reference_score(lead, NOW)
        pipeline_catch_up()
        scores_rebuild()
        rules = list(ScoreRule.objects.filter(is_active=True, kind="event"))
        for lead in leads:
            assert score_of(lead, NOW) == reference_score(lead, NOW)
            # After a rebuild the log holds exactly one entry per (rule, matching event), once-per-lead rules once.
            expected = 0
            for rule in rules:
                matching = lead.events.filter(type=rule.event_type)
                if rule.role:
                    matching = matching.filter(properties__role=rule.role)
                expected += min(matching.count(), 1) if rule.once_per_lead else matching.count()
            assert ScoreEvent.objects.filter(lead=lead, rule_id__in=[r.pk for r in rules]).count() == expected
    finally:
        ScoreRule.objects.filter(reason__startswith="custom").delete()
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).delete()
