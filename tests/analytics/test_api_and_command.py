"""The reports API and the funnel_report command: who may read, what bad input gets, and the same numbers."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError
from django.test import Client
from django.utils import timezone

from audiences.models import AudienceSize
from tests.analytics.conftest import command
from tests.factories import AudienceFactory

TODAY = timezone.localdate()
SINCE, UNTIL = (TODAY - dt.timedelta(days=7)).isoformat(), (TODAY + dt.timedelta(days=1)).isoformat()


def test_the_command_prints_the_funnel_report_as_one_json_line(sold):
    funnel, _ = sold
    output = command("funnel_report", funnel.slug, "--since", SINCE, "--until", UNTIL, "--format", "json")
    report = json.loads(output.strip().splitlines()[-1])
    assert (report["funnel"], report["since"], report["until"], report["currency"]) == (
        funnel.slug,
        SINCE,
        UNTIL,
        "USD",
    )
    steps = {s["step"]: s for s in report["steps"]}
    assert [s["step"] for s in report["steps"]] == ["optin", "order", "upsell", "downsell", "thanks"]
    order = steps["order"]
    assert (order["visitors"], order["conversions"], order["orders"], order["gross_minor"]) == (
        3,
        2,
        2,
        700 + 1700 + 700,
    )
    assert (order["bump_orders"], order["bump_take_rate"]) == (1, 0.5)
    totals = report["totals"]
    assert (totals["entries"], totals["orders"], totals["gross_minor"], totals["net_minor"]) == (3, 2, 3100, 3100)
    assert totals["epc_minor"] == 1033  # 3100 / 3, half up


def test_the_table_format_is_readable(sold):
    funnel, _ = sold
    output = command("funnel_report", funnel.slug, "--since", SINCE, "--until", UNTIL)
    assert "Entries 3, orders 2, gross $31.00" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--since", SINCE, "--until", UNTIL], "No funnel with slug 'nope'"),
        (["{slug}", "--since", UNTIL, "--until", SINCE], "must be before until"),
        (["{slug}", "--since", "2020-01-01", "--until", "2024-01-01"], "at most 3 years"),
        (["{slug}", "--since", "2026-13-01", "--until", UNTIL], "since must be a date as YYYY-MM-DD"),
    ],
)
def test_bad_command_input_is_one_line_and_a_non_zero_exit(sold, args, message):
    funnel, _ = sold
    with pytest.raises(CommandError, match=message):
        command("funnel_report", *[a.format(slug=funnel.slug) for a in args])


def test_the_api_gives_marketers_the_same_report_and_csv(sold, marketer):
    funnel, _ = sold
    response = marketer.get(f"/api/v1/reports/funnels/{funnel.slug}", {"since": SINCE, "until": UNTIL})
    assert response.status_code == 200
    cli = json.loads(command("funnel_report", funnel.slug, "--since", SINCE, "--until", UNTIL, "--format", "json"))
    assert response.json() == cli
    csv = marketer.get(f"/api/v1/reports/funnels/{funnel.slug}", {"since": SINCE, "until": UNTIL, "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("step,name,kind,visitors,conversions")
    assert len(lines) == 6


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/funnels/{slug}",
        "/api/v1/reports/funnels/{slug}/split-tests/order",
        "/api/v1/reports/offers",
        "/api/v1/reports/campaigns",
        "/api/v1/reports/cohorts",
        "/api/v1/reports/rfm",
        "/api/v1/reports/rfm/buyers",
    ],
)
def test_every_report_is_for_marketers_not_sales_nor_anonymous(sold, marketer, sales, path):
    funnel, _ = sold
    url = path.format(slug=funnel.slug)
    assert Client().get(url).status_code == 401
    assert sales.get(url).status_code == 403
    assert marketer.get(url).status_code == 200
    assert marketer.get(url, {"format": "csv"})["Content-Type"].startswith("text/csv")
    assert marketer.post(url).status_code == 405


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": UNTIL, "until": SINCE}, "since"),
        ({"since": "2019-01-01", "until": UNTIL}, "until"),
    ],
)
def test_bad_api_input_is_a_400_naming_the_field(sold, marketer, query, field):
    funnel, _ = sold
    response = marketer.get(f"/api/v1/reports/funnels/{funnel.slug}", query)
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_funnels_steps_and_currencies_are_named(sold, marketer):
    funnel, _ = sold
    assert marketer.get("/api/v1/reports/funnels/nope").json() == {"detail": "No funnel with slug 'nope'."}
    assert marketer.get(f"/api/v1/reports/funnels/{funnel.slug}/split-tests/nope").status_code == 404
    assert marketer.get("/api/v1/reports/rfm", {"currency": "XYZ"}).status_code == 400


def test_the_split_test_report_compares_variants_on_net_revenue(sold, marketer):
    funnel, _ = sold
    body = marketer.get(
        f"/api/v1/reports/funnels/{funnel.slug}/split-tests/order", {"since": SINCE, "until": UNTIL}
    ).json()
    variants = {v["name"]: v for v in body["variants"]}
    assert (variants["A"]["visitors"], variants["B"]["visitors"]) == (2, 1)
    assert "keep running" in body["verdict"]  # a day old: no visitor's refund window has passed yet
    assert variants["A"]["matured_visitors"] == 0


def test_the_reports_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/reports/funnels/{slug}" in schema["paths"]
    assert "/api/v1/reports/rfm" in schema["paths"]


def test_the_reports_page_shows_marketers_the_funnel_and_is_closed_to_sales(sold, marketer, sales):
    funnel, _ = sold
    index = marketer.get("/admin/").content.decode()
    assert "Open the reports" in index
    page = marketer.get("/admin/reports/", {"period": "last_7_days"})
    assert page.status_code == 200
    html = page.content.decode()
    assert funnel.name in html
    assert "$31.00" in html  # the funnel's net revenue
    assert "<svg" in html
    assert sales.get("/admin/reports/").status_code == 403
    assert "Open the reports" not in sales.get("/admin/").content.decode()
    assert marketer.get("/admin/reports/", {"since": "2026-01-05", "until": "2026-01-01"}).status_code == 200
    assert (
        "must be before until"
        in marketer.get("/admin/reports/", {"since": "2026-01-05", "until": "2026-01-01"}).content.decode()
    )


def test_the_funnel_page_draws_the_numbers_on_the_diagram_and_judges_the_split_test(sold, marketer, sales):
    funnel, steps = sold
    page = marketer.get(f"/admin/reports/funnels/{funnel.slug}/", {"since": SINCE, "until": UNTIL})
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 visitors · 66.7 % · $31.00" in html  # the order form's box: visitors, conversion, net
    assert 'id="split-order"' in html
    assert "keep running" in html
    assert sales.get(f"/admin/reports/funnels/{funnel.slug}/").status_code == 403
    assert marketer.get("/admin/reports/funnels/nope/").status_code == 404
    funnel_admin = marketer.get(f"/admin/funnels/funnel/{funnel.pk}/change/").content.decode()
    assert f'href="/admin/reports/funnels/{funnel.slug}/"' in funnel_admin
    step_page = marketer.get(f"/admin/funnels/step/{steps['order'].pk}/change/").content.decode()
    assert f"/admin/reports/funnels/{funnel.slug}/#split-order" in step_page


def test_the_dashboard_compares_the_period_with_the_one_before(sold, marketer):
    audience = AudienceFactory.create(name="Opted in, no tripwire")
    for days, size in ((3, 40), (2, 55)):
        AudienceSize.objects.create(audience=audience, day=TODAY - dt.timedelta(days=days), size=size)
    html = marketer.get("/admin/reports/", {"since": SINCE, "until": UNTIL}).content.decode()
    assert "Audience sizes per day" in html
    assert '<td class="num">40 (' in html  # the first size in the period
    assert '<td class="num">55 (' in html  # and the last
    assert "Opted in, no tripwire" in html
    assert "Channels by last touch" in html
    sizes = marketer.get("/admin/audiences/audience/sizes.csv", {"since": SINCE})
    assert sizes["Content-Type"].startswith("text/csv")
    assert sizes.content.decode().splitlines()[1:] == [
        f'"Opted in, no tripwire",{audience.slug},{TODAY - dt.timedelta(days=days)},{size}'
        for days, size in ((3, 40), (2, 55))
    ]
    assert marketer.get("/admin/audiences/audience/sizes.csv", {"since": "soon"}).status_code == 400
    assert "Buyers<b>2</b>before: 0" in html
    assert "New leads per day" in html
    assert "Last 30 days" in html


def test_buyers_are_listed_with_their_scores_and_bad_paging_is_named(sold, marketer):
    body = marketer.get("/api/v1/reports/rfm/buyers", {"limit": "1"}).json()
    assert body["count"] == 2
    assert len(body["buyers"]) == 1
    top = body["buyers"][0]
    assert (top["orders"], top["net_minor"], top["monetary"]) == (1, 2400, 3)  # 1 + 5·1 // 2: one buyer has less
    assert marketer.get("/api/v1/reports/rfm/buyers", {"limit": "501"}).json() == {
        "limit": ["limit must be a whole number from 1 to 500."]
    }
    assert "segment" in marketer.get("/api/v1/reports/rfm/buyers", {"segment": "whales"}).json()
    assert marketer.get("/api/v1/reports/rfm/buyers", {"segment": top["segment"]}).json()["count"] >= 1
