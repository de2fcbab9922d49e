"""The board's kept totals (PostgreSQL triggers) always equal counting the leads afresh, whatever writes them: new
leads, moves one by one or in bulk, owners, erasure, deletion, the buyers' rollup and the predictions changing, a
TRUNCATE of the rollup."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import Buyer, ClvFit, CustomerValue
from leads.models import Lead, Stage
from leads.pipeline import leads_owner_set, leads_stage_move
from pipeline import selectors
from tests.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("lead"), st.integers(0, 7), st.integers(0, 2)),
        st.tuples(st.just("move"), st.integers(0, 7), st.integers(1, 3)),
        st.tuples(st.just("bulk"), st.integers(0, 7)),
        st.tuples(st.just("owner"), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("erase"), st.integers(0, 20)),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("buyer"), st.integers(0, 20), st.sampled_from(["USD", "EUR"]), st.integers(-500, 5000)),
        st.tuples(st.just("value"), st.integers(0, 20), st.integers(0, 3000)),
        st.tuples(
            st.just("truncate"),
        ),
    ),
    min_size=1,
    max_size=12,
)


def live(owner: str, user_id: int | None) -> tuple[dict[int | None, int], dict[tuple[int | None, str], int]]:
    leads = selectors.leads_filtered(selectors.BoardFilters(owner=owner), user_id=user_id)
    counts: dict[int | None, int] = dict(
        leads.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n")
    )
    return counts, {key: total for key, total in selectors._values(leads).items() if total}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_the_kept_totals_equal_a_fresh_count(ops):
    stages = [None, *Stage.objects.order_by("position")]
    owners = [None, *(UserFactory.create(role="sales") for _ in range(2))]
    fit = ClvFit.objects.create(
        currency="USD", fitted_at=timezone.now(), usable=True, horizon_months=12, monthly_discount=0.01
    )
    LeadFactory.create_batch(3)
    today = timezone.localdate()
    try:
        for op in ops:
            ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
            pick = ids[op[1] % len(ids)] if ids and len(op) > 1 and op[0] != "lead" else None
            if op[0] == "lead":
                owner = owners[op[2]]
                lead = LeadFactory.create(owner=owner)
                leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=stages[op[1]], by_id=None)
            elif op[0] == "move" and ids:
                chosen = Lead.objects.filter(pk__in=ids[: op[2]])
                leads_stage_move(leads=chosen, to_stage=stages[op[1]], by_id=None)
            elif op[0] == "bulk":
                Lead.objects.update(stage=stages[op[1]])
            elif op[0] == "owner" and ids:
                owner = owners[op[1]]
                leads_owner_set(leads=Lead.objects.filter(pk__in=ids[: op[2]]), owner_id=owner.pk if owner else None)
            elif op[0] == "erase" and pick:
                Lead.objects.filter(pk=pick).update(erased_at=timezone.now())
            elif op[0] == "delete" and pick:
                Lead.objects.filter(pk=pick).delete()
            elif op[0] == "buyer" and pick:
                _, _, currency, net = op
                day = today - dt.timedelta(days=3)
                defaults = {"first_day": day, "last_day": day, "orders": 1, "net_minor": net}
                if net < 0:
                    Buyer.objects.filter(lead_id=pick, currency=currency).delete()
                else:
                    Buyer.objects.update_or_create(lead_id=pick, currency=currency, defaults=defaults)
            elif op[0] == "value" and pick:
                CustomerValue.objects.update_or_create(
                    lead_id=pick,
                    currency="USD",
                    defaults={
                        "fit": fit,
                        "p_alive": 0.5,
                        "expected_purchases": 1.0,
                        "predicted_value_minor": op[2],
                        "scored_at": timezone.now(),
                    },
                )
            elif op[0] == "truncate":
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE analytics_buyer")
            third = owners[2].pk if owners[2] else 0
            for owner, user in (("", None), ("none", None), ("me", owners[1]), (str(third), None)):
                user_id = user.pk if user else None
                kept_counts, kept_values = selectors._kept(owner, user_id)
                assert (kept_counts, kept_values) == live(owner, user_id), (op, owner)
    finally:
        Lead.objects.all().delete()
        ClvFit.objects.all().delete()
        Buyer.objects.all().delete()
