"""A marketer reads the reports in a real browser: the dashboard, a funnel's report and its split test, on a wide
screen and on a phone."""

import pytest
from django.contrib.auth.models import Group, Permission

from staff.roles import ROLES
from tests.analytics.conftest import build_sold
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def staff(role):
    """A user of ``role``; the groups are made again here because transactional tests empty every table."""
    group, _ = Group.objects.get_or_create(name=role)
    codenames = [f"{action}_{model}" for (_, model), actions in ROLES[role].items() for action in actions]
    group.permissions.set(Permission.objects.filter(codename__in=codenames))
    return UserFactory.create(role=role)


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("input[type=submit]")


def test_a_marketer_opens_the_dashboard_a_funnel_report_and_its_split_test(live_server, page):
    funnel, _ = build_sold()
    marketer = staff("marketer")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, marketer.username)

    page.click("text=Open the reports")
    page.wait_for_url("**/admin/reports/")
    assert page.locator("h2", has_text="All funnels").is_visible()
    assert page.locator("svg[aria-label='Net revenue per day']").is_visible()
    page.click("text=Last 7 days")
    page.click(f"h2 a:text('{funnel.name}')")
    page.wait_for_url(f"**/admin/reports/funnels/{funnel.slug}/**")
    assert page.locator("svg[aria-label='Funnel diagram']").is_visible()
    assert page.locator("text=3 visitors · 66.7 % · $31.00").count() == 1
    verdict = page.locator("#split-order + p.verdict")
    assert "keep running" in verdict.inner_text()

    # On a phone the tables scroll inside their box instead of widening the page.
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420


def test_sales_are_turned_away_from_the_reports(live_server, page):
    build_sold()
    seller = staff("sales")
    sign_in(page, live_server, seller.username)
    assert page.locator("text=Open the reports").count() == 0
    response = page.goto(f"{live_server.url}/admin/reports/")
    assert response.status == 403


def test_a_marketer_reads_lifetime_value_and_opens_the_most_valuable_buyer(live_server, page, history):
    from analytics import value

    value.clv_refresh()
    marketer = staff("marketer")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, marketer.username)
    page.goto(f"{live_server.url}/admin/reports/")
    page.click("text=Lifetime value: by cohort")
    page.wait_for_url("**/admin/reports/lifetime-value/**")
    assert page.locator("svg[aria-label^='Lifetime value per buyer']").is_visible()
    assert page.locator("h2", has_text="By first offer bought").is_visible()
    assert page.locator("text=Holdout check").is_visible()
    page.locator("h2:has-text('Most valuable buyers') + div table tbody tr a").first.click()
    page.wait_for_url("**/admin/leads/lead/*/change/")
    assert page.locator("h2", has_text="Lifetime value").is_visible()
    assert page.locator("text=Predicted:").is_visible()

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/admin/reports/lifetime-value/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 420


def test_a_marketer_reads_what_each_campaign_cost_and_returned(live_server, page):
    from tests.analytics.test_roi_report import build_example

    build_example()
    marketer = staff("marketer")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, marketer.username)
    page.goto(f"{live_server.url}/admin/reports/")
    assert page.locator(".card", has_text="Ad spend").is_visible()
    page.click("text=Campaigns: what each cost and returned")
    page.wait_for_url("**/admin/reports/roi/**")
    paid = page.locator("h2:has-text('Campaigns with spend') + div table tbody")
    assert "Cold Traffic" in paid.inner_text()
    assert "campaign id" in paid.inner_text()
    assert "add an exchange rate to USD" in paid.inner_text()  # the EUR account, not silently mixed
    assert page.locator("svg[aria-label^='Net revenue by campaign']").is_visible()
    page.click("text=last touch")
    page.wait_for_url("**touch=last**")
    assert "campaign name" in paid.inner_text()  # the retargeting campaign matched by its name
    unpaid = page.locator("h2:has-text('Revenue with no spend recorded') + p + div table tbody")
    assert "partner / x" in unpaid.inner_text()

    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420


def test_sales_are_turned_away_from_the_campaign_report(live_server, page):
    seller = staff("sales")
    sign_in(page, live_server, seller.username)
    response = page.goto(f"{live_server.url}/admin/reports/roi/")
    assert response.status == 403
