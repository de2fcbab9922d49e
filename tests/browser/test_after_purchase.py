"""After the purchase, in a real browser: the buyer takes the tripwire with its bump, declines the upsell and takes
the one-click downsell; opens the receipt e-mail, follows it to the library, signs in with the e-mailed link and
downloads each product paid for. The declined upsell is not there."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.files.base import ContentFile

from fulfilment.emails import emails_send
from fulfilment.models import Deliverable
from fulfilment.services import fulfilment_catch_up
from tests.browser.test_purchase_walk import opt_in, shop, stripe_live  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def products(steps):
    made = {}
    for key, offer in (
        ("tripwire", steps["order"].offer),
        ("bump", steps["order"].bump_offer),
        ("upsell", steps["upsell"].offer),
        ("downsell", steps["downsell"].offer),
    ):
        deliverable = Deliverable(offer=offer, title=f"The {key} file", kind="file")
        deliverable.file.save(f"{key}.txt", ContentFile(f"contents of the {key}".encode()))
        made[key] = deliverable
    return made


def test_receipt_library_and_downloads(live_server, page, stripe_live, shop, settings):  # noqa: F811
    settings.PUBLIC_BASE_URL = live_server.url
    funnel, steps = shop
    products(steps)
    opt_in(page, live_server, funnel)
    page.check("input[name=bump]")
    page.fill("input[name=card-number]", "4242 4242 4242 4242")
    page.click("[data-checkout] button[type=submit]")
    page.wait_for_url(re.compile(r"/upsell/$"), timeout=20_000)
    page.click("button[value=decline]")
    page.wait_for_url(re.compile(r"/downsell/$"))
    page.click("button[value=accept]")
    page.wait_for_url(re.compile(r"/thanks/$"), timeout=20_000)

    fulfilment_catch_up()  # what beat does every ten seconds
    assert emails_send() == 2  # the order (tripwire and bump), then the one-click downsell
    first, second = [m for m in mail.outbox if "receipt" in m.subject]  # the lead magnet's e-mail came first
    assert "Total paid: $24.00" in first.body
    assert "Total paid: $47.00" in second.body
    library = re.search(r"http\S+/library/", str(first.body))
    assert library is not None

    page.goto(library.group(0))
    page.fill("input[name=email]", "ada@example.com")
    page.click("button[type=submit]")
    page.get_by_text("a sign-in link is on its way").wait_for()
    sign_in = re.search(r"http\S+/library/sign-in/\S+/", str(mail.outbox[-1].body))
    assert sign_in is not None
    page.goto(sign_in.group(0))
    page.get_by_role("button", name="Open my library").click()
    page.get_by_role("heading", name="Your library").wait_for()

    links = page.locator("section.purchase a")
    titles = sorted(links.all_inner_texts())
    assert titles == ["The bump file", "The downsell file", "The tripwire file"]
    for title in titles:
        with page.expect_download() as download:
            page.get_by_role("link", name=title).click()
        path = download.value.path()
        key = title.split()[1]
        assert open(path, encoding="utf-8").read() == f"contents of the {key}"
