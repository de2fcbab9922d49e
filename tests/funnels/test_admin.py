import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from funnels.models import Funnel, Route, Step, Variant
from funnels.services import funnel_publish
from tests.admin_forms import form_data
from tests.factories import UserFactory, ladder_funnel

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    client.force_login(UserFactory.create(username="mia", role="marketer"))
    return client


def flash(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_publish_button_refuses_an_invalid_funnel_naming_the_step(marketer):
    funnel, steps = ladder_funnel()
    Route.objects.filter(from_step=steps["upsell"], outcome="decline").delete()

    response = marketer.post(reverse("admin:funnels_funnel_publish", args=[funnel.pk]))

    assert response.status_code == 302
    assert flash(response) == [
        f"“{funnel.name}” was not published: Step “Upsell”: it has no decline route for visitors who say no."
    ]
    funnel.refresh_from_db()
    assert funnel.status == Funnel.Status.DRAFT


def test_publish_and_unpublish_buttons(marketer):
    funnel, _ = ladder_funnel()
    marketer.post(reverse("admin:funnels_funnel_publish", args=[funnel.pk]))
    funnel.refresh_from_db()
    assert funnel.status == Funnel.Status.LIVE
    page = marketer.get(reverse("admin:funnels_funnel_change", args=[funnel.pk])).content.decode()
    assert "Unpublish" in page
    marketer.post(reverse("admin:funnels_funnel_unpublish", args=[funnel.pk]))
    funnel.refresh_from_db()
    assert funnel.status == Funnel.Status.DRAFT
    assert marketer.get(reverse("admin:funnels_funnel_publish", args=[funnel.pk])).status_code == 405


def test_build_a_funnel_on_one_page(marketer):
    funnel, steps = ladder_funnel()
    url = reverse("admin:funnels_funnel_change", args=[funnel.pk])
    data = form_data(marketer, url)
    # Add a cross-sell step and reroute the upsell's accept through it, all in one save.
    total = int(data["steps-TOTAL_FORMS"])
    data.update(
        {
            "steps-TOTAL_FORMS": str(total + 1),
            f"steps-{total}-name": "Audit",
            f"steps-{total}-slug": "audit",
            f"steps-{total}-kind": "cross_sell",
            f"steps-{total}-position": "45",
        }
    )
    assert marketer.post(url, data).status_code == 302
    audit = Step.objects.get(funnel=funnel, slug="audit")
    assert audit.kind == "cross_sell"


def test_routes_inline_refuses_a_second_accept_route(marketer):
    funnel, steps = ladder_funnel()
    url = reverse("admin:funnels_funnel_change", args=[funnel.pk])
    data = form_data(marketer, url)
    total = int(data["routes-TOTAL_FORMS"])
    data.update(
        {
            "routes-TOTAL_FORMS": str(total + 1),
            f"routes-{total}-from_step": str(steps["optin"].pk),
            f"routes-{total}-outcome": "accept",
            f"routes-{total}-to_step": str(steps["thanks"].pk),
        }
    )
    response = marketer.post(url, data)
    assert response.status_code == 200
    assert "“Opt-in” already has an accept route." in response.content.decode()
    assert Route.objects.filter(from_step=steps["optin"]).count() == 1


def test_an_edit_that_would_break_a_live_funnel_is_rolled_back(marketer):
    funnel, steps = ladder_funnel()
    funnel_publish(funnel=funnel)
    url = reverse("admin:funnels_funnel_change", args=[funnel.pk])
    data = form_data(marketer, url)
    route_index = next(
        key.split("-")[1]
        for key, value in data.items()
        if key.endswith("-from_step") and value == str(steps["order"].pk)
    )
    data[f"routes-{route_index}-DELETE"] = "on"
    data["name"] = "Renamed"

    response = marketer.post(url, data)

    assert response.status_code == 302
    assert flash(response) == [
        "Not saved: the funnel is live and this change would break it. Unpublish it first, or fix: "
        "Step “Order”: it has no accept route, so visitors would be stuck here."
    ]
    funnel.refresh_from_db()
    assert funnel.name != "Renamed"
    assert Route.objects.filter(from_step=steps["order"]).count() == 1


def test_clone_copies_steps_routes_and_variants_as_a_draft(marketer):
    funnel, steps = ladder_funnel()
    Variant.objects.create(step=steps["optin"], name="B", weight=2, headline="Other headline")
    funnel_publish(funnel=funnel)

    response = marketer.post(reverse("admin:funnels_funnel_clone", args=[funnel.pk]))

    copy = Funnel.objects.get(slug=f"{funnel.slug}-copy")
    assert response.url == reverse("admin:funnels_funnel_change", args=[copy.pk])
    assert copy.status == Funnel.Status.DRAFT
    assert sorted(copy.steps.values_list("slug", flat=True)) == sorted(s.slug for s in steps.values())
    entry = copy.entry_step
    assert entry is not None
    assert (entry.funnel, entry.slug) == (copy, "optin")
    routes = {(r.from_step.slug, r.outcome, r.to_step.slug) for r in copy.routes.select_related("from_step", "to_step")}
    originals = {
        (r.from_step.slug, r.outcome, r.to_step.slug) for r in funnel.routes.select_related("from_step", "to_step")
    }
    assert routes == originals
    assert all(r.from_step.funnel_id == copy.pk and r.to_step.funnel_id == copy.pk for r in copy.routes.all())
    assert Variant.objects.get(step__funnel=copy).headline == "Other headline"
    marketer.post(reverse("admin:funnels_funnel_clone", args=[funnel.pk]))
    assert Funnel.objects.filter(slug=f"{funnel.slug}-copy-2").exists()


def test_funnel_page_draws_the_diagram_with_escaped_names(marketer):
    funnel, steps = ladder_funnel()
    steps["upsell"].name = "<script>x</script>"
    steps["upsell"].save()
    page = marketer.get(reverse("admin:funnels_funnel_change", args=[funnel.pk])).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    assert 'marker-end="url(#arrow-decline)"' in page
    assert "Yes: every path reaches a thank-you step." in page
