import datetime as dt
import hashlib
import math
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from fulfilment.models import Access, BuyerEmail
from funnels.models import Funnel
from funnels.services import funnel_blocking_problems
from leads import scoring
from leads.models import Consent, Event, Lead, LeadImport, ScoreEvent, StageMove, Task, Touch
from leads.pipeline import stale_q
from offers.models import Coupon, Dispute, Order, OrderLine, Payment, Refund
from spend.models import CampaignDay, OtherCost

pytestmark = pytest.mark.django_db


def fingerprint() -> str:
    """A digest of every demo row that matters, so two runs can be compared exactly."""
    parts = [
        list(Lead.objects.order_by("email").values_list("email", "phone", "country", "stage__name", "created_at")),
        list(Event.objects.order_by("idempotency_key").values_list("idempotency_key", "type", "occurred_at")),
        list(Order.objects.order_by("public_id").values_list("public_id", "total_minor", "refunded_minor", "status")),
        list(OrderLine.objects.order_by("order__public_id", "offer__slug").values_list("offer__slug", "amount_minor")),
        list(
            Payment.objects.order_by("stripe_payment_intent_id").values_list("stripe_payment_intent_id", "amount_minor")
        ),
        list(Refund.objects.order_by("stripe_refund_id").values_list("stripe_refund_id", "amount_minor")),
        list(Consent.objects.order_by("lead__email", "purpose", "occurred_at").values_list("lead__email", "status")),
        list(Touch.objects.order_by("lead__email", "kind").values_list("lead__email", "utm_source", "fbc", "gclid")),
        list(CampaignDay.objects.order_by("campaign_id", "day").values_list("campaign_id", "day", "spend_minor")),
        list(OtherCost.objects.order_by("day", "source").values_list("day", "source", "amount_minor")),
        list(Coupon.objects.values_list("code", "redemptions_count")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def test_demo_seed_builds_a_realistic_ladder_and_running_it_twice_changes_nothing():
    out = StringIO()
    call_command("demo_seed", "--force", stdout=out)
    first = fingerprint()
    call_command("demo_seed", "--force", stdout=StringIO())

    assert fingerprint() == first
    text = out.getvalue()
    assert "Seeding demo   [##############################] 7001/7001 100%" in text
    assert "admin login (superuser): admin / ladder-demo" in text

    funnel = Funnel.objects.get(slug="ebook")
    assert funnel.status == Funnel.Status.LIVE
    assert funnel_blocking_problems(funnel=funnel) == []
    prices = dict(funnel.steps.exclude(offer=None).values_list("slug", "offer__amount_minor"))
    assert prices == {"optin": 0, "order": 700, "upsell": 9700, "downsell": 4700, "cross-sell": 19700}
    assert funnel.steps.filter(slug="order", bump_offer__amount_minor=1700).exists()

    # What buyers paid for: access to each paid line's deliverables, and one receipt per charge, sent.
    paid_charges = Payment.objects.filter(status="succeeded").count()
    assert BuyerEmail.objects.filter(kind="receipt", status="sent").count() == paid_charges
    assert BuyerEmail.objects.filter(kind="refund", status="sent").exists()
    assert Access.objects.filter(revoked_at=None).count() > 300
    assert Access.objects.exclude(revoked_at=None).exists()  # full refunds took it back
    # The imported list: new people, people the funnel already had (details filled in), broken rows and a repeat.
    imported = LeadImport.objects.get()
    assert (imported.status, imported.created, imported.merged, imported.repeated, imported.invalid) == (
        "done",
        117,
        20,
        1,
        3,
    )
    assert Lead.objects.count() == 2000 + imported.created
    assert Consent.objects.filter(source=imported.source, purpose="ad_audiences").count() == 137
    assert Lead.objects.filter(email__startswith="webinar.", stage__name="New").count() == 117
    orders = Order.objects.filter(funnel_id=funnel.pk).exclude(paid_at=None)
    assert 300 < orders.count() < 700
    assert Order.objects.filter(status="pending").exists()  # abandoned checkouts
    assert Refund.objects.count() > 10
    assert not Refund.objects.filter(created_at__gt=timezone.now()).exists(), "no refund is dated in the future"
    assert not Dispute.objects.filter(closed_at__gt=timezone.now()).exists()
    assert orders.filter(status="refunded").exists()
    assert orders.filter(status="partially_refunded").exists()
    assert OrderLine.objects.filter(role="order_bump").exists()
    assert OrderLine.objects.filter(role="core").exists()
    assert OrderLine.objects.filter(role="cross_sell").exists()
    # Purchase events match paid order lines one for one, each credited to its page's step and visitor.
    paid_lines = OrderLine.objects.exclude(order__paid_at=None)
    assert Event.objects.filter(type="purchase").count() == paid_lines.count()
    assert not Event.objects.filter(type="purchase", step_id=None).exists()
    assert not Event.objects.filter(type="purchase", visitor_id=None).exists()
    assert Event.objects.filter(type="chargeback").exists()
    span = Lead.objects.order_by("created_at")
    first_lead, last_lead = span.first(), span.last()
    assert first_lead is not None
    assert last_lead is not None
    assert 350 <= (last_lead.created_at - first_lead.created_at).days <= 365

    # The pipeline, made by its rules and by the sales team's moves, notes and tasks.
    stages = dict(Lead.objects.values("stage__name").annotate(n=Count("pk")).values_list("stage__name", "n"))
    assert {"New", "Engaged", "Customer", "Qualified", "Proposal", "Won", "Lost"} <= set(stages)
    assert all(stages[name] >= 5 for name in ("Engaged", "Customer", "Qualified", "Proposal", "Won", "Lost"))
    assert StageMove.objects.filter(automatic=True).exists()
    assert StageMove.objects.filter(automatic=False, moved_by__username="sales2").exists()
    owners = set(Lead.objects.exclude(owner=None).values_list("owner__username", flat=True).distinct())
    assert owners == {"sales", "sales2"}
    now = timezone.now()
    assert Task.objects.filter(done_at=None, due_at__lt=now).exists()  # overdue
    assert Task.objects.filter(done_at=None, due_at__gt=now).exists()
    assert Task.objects.exclude(done_at=None).exists()
    assert Lead.objects.filter(stale_q(now=now)).count() > 20
    assert ScoreEvent.objects.filter(rule_id__isnull=False).count() > 2000
    half_life = scoring.half_life_days()
    for lead in Lead.objects.filter(score_events__isnull=False).distinct()[:50]:
        total = sum(
            e.points * 0.5 ** ((now - e.occurred_at).total_seconds() / 86400 / half_life)  # type: ignore[operator]
            for e in lead.score_events.all()
        )
        assert scoring.score_at(lead.score_base, now, half_life) == math.floor(total + 0.5 + 1e-9)


def test_the_demo_reports_show_every_step_from_the_first_run():
    call_command("demo_seed", "--force", stdout=StringIO())
    from analytics import reports

    funnel = Funnel.objects.get(slug="ebook")
    period = reports.period_parse((timezone.localdate() - dt.timedelta(days=370)).isoformat(), None)
    report = reports.funnel_report(funnel=funnel, period=period)
    steps = {row.step: row for row in report.steps}
    assert steps["optin"].visitors == 5000  # 2,000 leads and 3,000 who only looked
    assert steps["optin"].conversions == 2000
    paid = Order.objects.filter(funnel_id=funnel.pk).exclude(paid_at=None)
    assert 0 < steps["order"].orders == report.totals.orders == paid.count()
    assert steps["upsell"].conversions > 0
    assert 0 < (steps["order"].bump_take_rate or 0) < 1
    assert report.totals.refunds_minor > 0
    assert report.totals.net_minor == sum(o.net_minor for o in paid)
    # Buyers come back to the workshop: cohorts show repeat purchases and RFM has repeat buyers.
    assert Order.objects.filter(funnel_id=Funnel.objects.get(slug="workshop").pk).exclude(paid_at=None).exists()
    cohorts = reports.cohorts_report(period=period, currency="USD")
    assert any(share for row in cohorts for share in row.retention[1:])
    assert (
        reports.rfm_report(currency="USD").grid.get("R5F5", 0) + reports.rfm_report(currency="USD").grid.get("R4F5", 0)
        > 0
    )
    split = reports.split_test_report(step=funnel.steps.get(slug="upsell"), period=period)
    assert [v.name for v in split.variants] == ["A", "B"]
    assert all(v.matured_visitors > 100 for v in split.variants)
    # Lifetime value: the fit is usable, buyers have predictions, and the top-value audience previews its values.
    from analytics.models import ClvFit, CustomerValue
    from audiences.models import SyncBatch

    fit = ClvFit.objects.get(currency="USD")
    assert fit.usable, fit.reason
    assert CustomerValue.objects.filter(currency="USD").count() == fit.customers
    batch = SyncBatch.objects.filter(run__destination__audience__slug="top-predicted-value", kind="add").get()
    assert batch.size > 0
    assert batch.payload is not None
    assert all(float(row["LOOKALIKE_VALUE"]) > 0 for row in batch.payload)
    # Ad spend: two campaigns a platform, so the campaign report shows ROAS and CAC on the first run.
    from spend.models import AdAccount

    assert sorted(AdAccount.objects.values_list("platform", "is_active", "currency")) == [
        ("google", False, "USD"),
        ("meta", False, "USD"),
    ]
    assert CampaignDay.objects.values("campaign_id").distinct().count() == 4  # two per platform
    assert OtherCost.objects.filter(source="newsletter").count() >= 12
    assert CampaignDay.objects.count() == 4 * CampaignDay.objects.values("day").distinct().count()
    period = reports.period_parse((timezone.localdate() - dt.timedelta(days=90)).isoformat(), None)
    for touch in ("first", "last"):
        roi = reports.roi_report(period=period, currency="USD", touch=touch)
        rows = {(r.platform, r.campaign): r for r in roi.rows}
        assert {row.match for row in roi.rows} >= {"campaign id", "campaign name", "source and campaign"}
        cold = rows[("meta", "E-book — cold audiences")]
        assert (cold.match, cold.leads > 0, cold.new_buyers > 0) == ("campaign id", True, True)
        assert cold.roas is not None
        assert 0 < cold.roas < 20
        assert rows[("google", "Brand")].match == "campaign name"
        assert any(r.match == "no spend recorded" and "facebook / retarget-7d" in r.touches for r in roi.rows)
        assert roi.totals["roas"] > 0
        assert roi.totals["cac_minor"] > 0
