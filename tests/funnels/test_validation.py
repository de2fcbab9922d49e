"""The graph validator on a valid funnel and on each kind of invalid one, through the real database."""

import pytest

from funnels.models import Funnel, Route
from funnels.services import FunnelInvalid, funnel_blocking_problems, funnel_problems, funnel_publish
from tests.factories import OfferFactory, StepFactory, ladder_funnel

pytestmark = pytest.mark.django_db


def messages(funnel):
    return [str(p) for p in funnel_blocking_problems(funnel=funnel)]


def test_valid_ladder_has_no_problems_and_publishes():
    funnel, _ = ladder_funnel()
    assert funnel_problems(funnel=funnel) == []
    published = funnel_publish(funnel=funnel)
    assert published.status == Funnel.Status.LIVE
    assert published.published_at is not None


def test_empty_funnel():
    funnel, steps = ladder_funnel()
    funnel.steps.all().delete()
    assert messages(funnel) == ["The funnel has no steps; add an entry step and a thank-you step."]


def test_missing_entry_step():
    funnel, _ = ladder_funnel()
    funnel.entry_step = None
    funnel.save()
    assert messages(funnel) == ["Choose the entry step where visitors start."]


def test_cycle_is_named_with_its_steps():
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["downsell"], outcome="decline").update(to_step=steps["order"])
    assert messages(funnel) == [
        "Step “Downsell”: its decline route makes a loop (Order → Upsell → Downsell → Order); "
        "every path must move forward."
    ]


def test_dead_end_without_accept_route():
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["order"]).delete()
    problems = messages(funnel)
    assert problems == ["Step “Order”: it has no accept route, so visitors would be stuck here."]


def test_upsell_without_decline_route():
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["upsell"], outcome="decline").delete()
    assert messages(funnel) == ["Step “Upsell”: it has no decline route for visitors who say no."]


def test_thank_you_step_with_outgoing_route():
    funnel, steps = ladder_funnel()
    extra = StepFactory.create(funnel=funnel, name="Bonus", kind="thank_you")
    Route.objects.create(funnel=funnel, from_step=steps["thanks"], outcome="accept", to_step=extra)
    assert messages(funnel) == ["Step “Thanks”: a thank-you step ends the funnel; remove its routes."]


def test_optin_with_a_decline_route():
    funnel, steps = ladder_funnel()
    Route.objects.create(funnel=funnel, from_step=steps["optin"], outcome="decline", to_step=steps["thanks"])
    assert messages(funnel) == ["Step “Opt-in”: an opt-in step has no decline button; remove its decline route."]


def test_offer_step_without_an_offer():
    funnel, steps = ladder_funnel()
    steps["upsell"].offer = None
    steps["upsell"].save()
    assert messages(funnel) == ["Step “Upsell”: an upsell step needs an offer to sell."]


def test_order_form_names_every_role_it_takes():
    funnel, steps = ladder_funnel()
    steps["order"].offer = OfferFactory.create(name="Extra", role="upsell")
    steps["order"].save()
    assert messages(funnel) == [
        "Step “Order”: offer “Extra” is an upsell offer; an order form step takes a core or tripwire offer."
    ]


def test_offer_of_the_wrong_role():
    funnel, steps = ladder_funnel()
    steps["downsell"].offer = OfferFactory.create(name="Big course", role="core", amount_minor=9700)
    steps["downsell"].save()
    assert messages(funnel) == [
        "Step “Downsell”: offer “Big course” is a core offer; a downsell step takes a downsell offer."
    ]


def test_bump_must_be_an_order_bump_on_an_order_form():
    funnel, steps = ladder_funnel()
    steps["order"].bump_offer = OfferFactory.create(name="Swipe", role="tripwire")
    steps["order"].save()
    steps["upsell"].bump_offer = OfferFactory.create(name="Extra", role="order_bump")
    steps["upsell"].save()
    assert messages(funnel) == [
        "Step “Order”: bump offer “Swipe” is not an order-bump offer.",
        "Step “Upsell”: only an order form can carry an order bump.",
    ]


def test_one_currency_per_funnel():
    funnel, steps = ladder_funnel(currency="USD")
    steps["upsell"].offer = OfferFactory.create(name="Kurs", role="core", currency="EUR", amount_minor=9700)
    steps["upsell"].save()
    assert messages(funnel) == ["Step “Upsell”: offer “Kurs” is priced in EUR; the funnel sells in USD."]


def test_unreachable_step_is_only_a_warning():
    funnel, _ = ladder_funnel()
    StepFactory.create(funnel=funnel, name="Orphan", kind="upsell")  # no offer, no routes, not reachable
    assert messages(funnel) == []
    warnings = [str(p) for p in funnel_problems(funnel=funnel)]
    assert warnings == [
        "Step “Orphan”: an upsell step needs an offer to sell. (warning)",
        "Step “Orphan”: it has no accept route, so visitors would be stuck here. (warning)",
        "Step “Orphan”: it has no decline route for visitors who say no. (warning)",
        "Step “Orphan”: no route from the entry step reaches it yet. (warning)",
    ]
    assert funnel_publish(funnel=funnel).status == Funnel.Status.LIVE


def test_publishing_an_invalid_funnel_is_refused_and_changes_nothing():
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["order"]).delete()
    with pytest.raises(FunnelInvalid, match="Step “Order”: it has no accept route"):
        funnel_publish(funnel=funnel)
    funnel.refresh_from_db()
    assert funnel.status == Funnel.Status.DRAFT
    assert funnel.published_at is None


def test_an_optin_step_that_asks_no_consent_cannot_be_published():
    funnel, steps = ladder_funnel()
    steps["optin"].consent_email_text = steps["optin"].consent_ads_text = " "
    steps["optin"].save()
    assert messages(funnel) == [
        "Step “Opt-in”: it asks for no consent: its leads could never be e-mailed or retargeted. Give the wording "
        "of the e-mail or ad-audiences checkbox (or both)."
    ]
    with pytest.raises(FunnelInvalid):
        funnel_publish(funnel=funnel)


def test_an_optin_step_without_ad_consent_is_a_warning():
    funnel, steps = ladder_funnel()
    steps["optin"].consent_ads_text = ""
    steps["optin"].save()
    assert messages(funnel) == []
    assert [str(p) for p in funnel_problems(funnel=funnel)] == [
        "Step “Opt-in”: it asks no ad-audience consent: its leads can never be added to ad audiences. (warning)"
    ]


def test_the_step_editor_offers_both_consent_wordings_and_clears_them_off_other_steps():
    from funnels.admin import DEFAULT_ADS_CONSENT, DEFAULT_EMAIL_CONSENT, StepInlineForm

    blank = StepInlineForm()
    assert blank.fields["consent_email_text"].initial == DEFAULT_EMAIL_CONSENT
    assert blank.fields["consent_ads_text"].initial == DEFAULT_ADS_CONSENT
    funnel, steps = ladder_funnel()
    row = StepInlineForm(
        data={
            "position": 5,
            "name": "Thanks",
            "slug": "thanks-2",
            "kind": "thank_you",
            "consent_email_text": DEFAULT_EMAIL_CONSENT,
            "consent_ads_text": DEFAULT_ADS_CONSENT,
        },
        instance=type(steps["optin"])(funnel=funnel),
    )
    assert row.is_valid(), row.errors
    assert (row.cleaned_data["consent_email_text"], row.cleaned_data["consent_ads_text"]) == ("", "")
