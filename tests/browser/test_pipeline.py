"""Sales work the board in a real browser: drag a card to another column, move one from the keyboard, and read
the moves in the lead's stage history."""

import pytest

from leads.models import Lead, Stage, StageMove
from leads.pipeline import leads_stage_move
from tests.browser.test_reports import sign_in, staff
from tests.factories import LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_seller_drags_a_card_and_moves_another_from_the_keyboard(live_server, page):
    # Transactional tests empty every table afterwards, the migrations' stages with them: make sure they are here.
    new = Stage.objects.get_or_create(name="New", defaults={"position": 10, "win_probability": 5})[0]
    qualified = Stage.objects.get_or_create(name="Qualified", defaults={"position": 30, "win_probability": 35})[0]
    won = Stage.objects.get_or_create(name="Won", defaults={"position": 50, "win_probability": 100, "is_closed": True})[
        0
    ]
    ada = LeadFactory.create(first_name="Ada", last_name="Lovelace", score=20)
    grace = LeadFactory.create(first_name="Grace", last_name="Hopper", score=10)
    leads_stage_move(leads=Lead.objects.all(), to_stage=new, by_id=None)
    seller = staff("sales")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, seller.username)
    page.click("text=The board")
    page.wait_for_url("**/admin/pipeline/")

    column = page.locator(f"section.column[data-stage='{qualified.pk}']")
    assert column.locator(".count").inner_text() == "0"
    page.drag_and_drop(f"article[data-lead='{ada.pk}']", f"section.column[data-stage='{qualified.pk}']")
    column.locator(f"article[data-lead='{ada.pk}']").wait_for()
    assert column.locator(".count").inner_text() == "1"

    # Without a mouse: the card's stage menu and its Move button.
    card = page.locator(f"article[data-lead='{grace.pk}']")
    card.locator("select").focus()
    card.locator("select").select_option(str(won.pk))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.locator(f"section.column[data-stage='{won.pk}'] article[data-lead='{grace.pk}']").wait_for()
    assert page.locator("text=Grace Hopper moved from New to Won.").is_visible()

    page.click(f"section.column[data-stage='{qualified.pk}'] a:text('Ada Lovelace')")
    page.wait_for_url(f"**/admin/leads/lead/{ada.pk}/change/")
    history = page.locator("table.stage-history tbody tr").first.inner_text()
    assert "New" in history
    assert "Qualified" in history
    assert seller.username in history
    assert StageMove.objects.filter(lead=ada, moved_by=seller, to_stage=qualified).count() == 1
