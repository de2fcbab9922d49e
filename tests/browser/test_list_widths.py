"""Every admin list a role can open fits a 1280-pixel laptop screen: no sideways scrolling, with a row of realistic
data in the lists that matter most."""

import io

import pytest
from django.contrib import admin
from django.urls import reverse

from fulfilment.models import Deliverable
from leads import imports
from leads.models import Stage
from tests.browser.test_reports import sign_in, staff
from tests.factories import AudienceFactory, DestinationFactory, LeadFactory, OrderFactory, ladder_funnel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1280


def some_rows():
    Stage.objects.get_or_create(name="Qualified", defaults={"position": 30, "win_probability": 35})
    funnel, steps = ladder_funnel()
    lead = LeadFactory.create(
        email="alexandria.montgomery-worthington@consulting-partners.example.com",
        first_name="Alexandria",
        last_name="Montgomery-Worthington",
        country="GB",
    )
    OrderFactory.create(lead=lead, funnel_id=funnel.pk)
    DestinationFactory.create(audience=AudienceFactory.create(name="Opted in, no tripwire within seven days"))
    basis = imports.Basis(purposes=("marketing_email",), wording="News.", legal_basis="consent")
    listed = imports.import_create(
        name="Webinar list", upload=io.BytesIO(b"email\nbad\n"), filename="l.csv", basis=basis
    )
    imports.import_start(lead_import=listed)
    imports.import_run(import_id=listed.pk)
    upsell = steps["upsell"].offer
    assert upsell is not None
    Deliverable.objects.create(offer=upsell, title="The course platform", kind="link", url="https://e.example/c")


@pytest.mark.parametrize("role", ["marketer", "sales"])
def test_every_list_fits_a_laptop_screen(live_server, page, role):
    some_rows()
    user = staff(role)
    page.set_viewport_size({"width": WIDTH, "height": 900})
    sign_in(page, live_server, user.username)
    page.wait_for_url("**/admin/")
    too_wide = []
    for model in admin.site._registry:
        meta = model._meta
        if meta.app_label in ("auth", "axes") or not user.has_perm(f"{meta.app_label}.view_{meta.model_name}"):
            continue
        page.goto(live_server.url + reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        # The admin scrolls a wide table inside its own box: a table wider than that box hides columns.
        table, box, page_width = page.evaluate(
            "[document.querySelector('#result_list')?.scrollWidth || 0,"
            " document.querySelector('#result_list')?.parentElement.clientWidth || 0,"
            " document.documentElement.scrollWidth]"
        )
        if table > box + 1 or page_width > WIDTH:
            too_wide.append(f"{meta.app_label}.{meta.model_name}: table {table}px in {box}px, page {page_width}px")
    assert too_wide == []
