"""A visitor walks a live funnel in a real browser."""

import re

import pytest
from django.core import mail

from funnels.models import Route, Variant
from funnels.services import funnel_publish
from leads.models import Event, Lead, Touch
from tests.factories import ladder_funnel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def walk_funnel():
    """Opt-in → upsell → (no) downsell → (no) thank-you: a walk that needs no payment."""
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["optin"]).update(to_step=steps["upsell"])
    steps["optin"].consent_ads_text = "Show me relevant ads."
    steps["optin"].headline = "Get the free playbook"
    steps["optin"].save()
    return funnel_publish(funnel=funnel), steps


def test_visitor_opts_in_declines_the_upsell_and_reaches_thank_you(live_server, page, walk_funnel):
    funnel, steps = walk_funnel
    campaign = "utm_source=facebook&utm_medium=paid_social&utm_campaign=spring&fbclid=IwAR_browser"
    start = f"{live_server.url}/f/{funnel.slug}/?{campaign}"

    page.goto(start)
    assert page.locator("h1").inner_text() == "Get the free playbook"
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=email]", "Grace.Hopper@Example.com")
    page.check("input[name=consent_ads]")
    page.click("button[type=submit]")

    page.wait_for_url(re.compile(r"/upsell/$"))
    page.click("button[value=decline]")
    page.wait_for_url(re.compile(r"/downsell/$"))
    page.click("button[value=decline]")
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert page.locator("a.button", has_text="Download your copy").is_visible()

    lead = Lead.objects.get()
    assert lead.email == "grace.hopper@example.com"
    first = Touch.objects.get(lead=lead, kind="first")
    assert (first.utm_source, first.utm_medium, first.utm_campaign, first.fbclid) == (
        "facebook",
        "paid_social",
        "spring",
        "IwAR_browser",
    )
    assert re.fullmatch(r"fb\.1\.\d{13}\.IwAR_browser", first.fbc)
    assert Touch.objects.get(lead=lead, kind="last").utm_campaign == "spring"
    assert list(lead.consents.values_list("purpose", "status")) == [("ad_audiences", "granted")]
    assert [message.to for message in mail.outbox] == [["grace.hopper@example.com"]]
    assert Event.objects.filter(lead=lead, type="custom", name="lead_magnet_sent").count() == 1
    walked = list(Event.objects.filter(lead=lead).exclude(type="custom").order_by("id").values_list("type", "step_id"))
    assert walked == [
        ("page_view", steps["optin"].pk),
        ("optin", steps["optin"].pk),
        ("page_view", steps["upsell"].pk),
        ("upsell_declined", steps["upsell"].pk),
        ("page_view", steps["downsell"].pk),
        ("upsell_declined", steps["downsell"].pk),
        ("page_view", steps["thanks"].pk),
    ]


def test_a_bad_email_is_an_inline_error_in_the_browser(live_server, page, walk_funnel):
    funnel, _ = walk_funnel
    page.goto(f"{live_server.url}/f/{funnel.slug}/optin/")
    page.fill("input[name=email]", "grace@")
    page.click("button[type=submit]")
    assert "is not a valid e-mail address" in page.locator("#id_email_error").inner_text()
    assert Lead.objects.count() == 0


def test_split_test_variant_sticks_across_reloads(live_server, page, walk_funnel):
    funnel, steps = walk_funnel
    Variant.objects.create(step=steps["optin"], name="A", weight=1, headline="Variant A headline")
    Variant.objects.create(step=steps["optin"], name="B", weight=1, headline="Variant B headline")
    page.goto(f"{live_server.url}/f/{funnel.slug}/optin/")
    first = page.locator("h1").inner_text()
    assert first in ("Variant A headline", "Variant B headline")
    for _ in range(5):
        page.reload()
        assert page.locator("h1").inner_text() == first
    variant_ids = set(Event.objects.filter(type="page_view").values_list("variant_id", flat=True))
    assert len(variant_ids) == 1
