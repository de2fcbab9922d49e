"""The hosted pages through Django's test client: tracking, capture, answers, delivery and bad input."""

import datetime as dt
import re
import threading
import uuid

import pytest
from django.core import mail, signing
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from analytics.services import rollups_catch_up
from funnels.delivery import lead_magnet_token
from funnels.models import Funnel, Variant
from funnels.services import funnel_unpublish
from funnels.tasks import lead_magnet_email, lead_magnet_sweep
from funnels.tracking import VISITOR_COOKIE
from leads.contracts import ConsentAnswer
from leads.models import Consent, Event, Lead, Touch
from leads.services import lead_capture
from tests.factories import UserFactory
from tests.funnels.conftest import ADS_WORDING, EMAIL_WORDING

pytestmark = pytest.mark.django_db


def found(pattern: str, text: str, group: int = 1) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the page"
    return match.group(group)


def url(funnel, step):
    return reverse("funnels:step", kwargs={"funnel_slug": funnel.slug, "step_slug": step})


def optin_form(client, funnel, query=""):
    page = client.get(url(funnel, "optin") + query)
    assert page.status_code == 200
    submission_id = found(r'name="submission_id" value="([^"]+)"', page.content.decode())
    return {"email": "ada@example.com", "first_name": "Ada", "website": "", "submission_id": submission_id}


def test_first_visit_sets_a_signed_visitor_cookie_and_records_attribution(client, live_funnel):
    funnel, steps = live_funnel
    response = client.get(
        url(funnel, "optin") + "?utm_source=facebook&utm_medium=paid&fbclid=IwAR9",
        HTTP_REFERER="https://l.facebook.com/",
    )
    assert response.status_code == 200
    cookie = response.cookies[VISITOR_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    view = Event.objects.get(type="page_view")
    visitor_id = view.visitor_id
    assert str(visitor_id) in cookie.value  # signed: the value plus its signature
    assert view.properties["utm_source"] == "facebook"
    assert re.fullmatch(r"fb\.1\.\d{13}\.IwAR9", view.properties["fbc"])
    assert view.properties["referrer"] == "https://l.facebook.com/"
    assert view.properties["landing"] is True

    client.get(url(funnel, "optin"))  # same visitor, no new cookie, not a landing
    second = Event.objects.filter(type="page_view").latest("id")
    assert second.visitor_id == visitor_id
    assert second.properties == {"landing_url": f"http://testserver{url(funnel, 'optin')}", "landing": False}


def test_a_tampered_visitor_cookie_is_replaced(client, live_funnel):
    funnel, _ = live_funnel
    client.cookies[VISITOR_COOKIE] = "forged-value"
    response = client.get(url(funnel, "optin"))
    assert VISITOR_COOKIE in response.cookies
    assert Event.objects.get().visitor_id is not None


def test_optin_walks_to_the_next_step_and_captures_everything(client, live_funnel, django_capture_on_commit_callbacks):
    funnel, steps = live_funnel
    data = optin_form(client, funnel, "?utm_source=google&gclid=GCLID1")
    data.update({"phone": "415 555 2671", "consent_email": "on", "email": " Ada@Example.COM "})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(funnel, "optin"), data)
        client.post(url(funnel, "optin"), data)  # a double submit

    assert response.status_code == 302
    assert response.url == url(funnel, "order")
    lead = Lead.objects.get()
    assert (lead.email, lead.phone) == ("ada@example.com", "+14155552671")
    assert list(lead.consents.values_list("purpose", "wording")) == [("marketing_email", EMAIL_WORDING)]
    assert Event.objects.filter(type="optin").count() == 1
    assert set(Event.objects.filter(type="page_view").values_list("lead", flat=True)) == {lead.pk}
    first = Touch.objects.get(lead=lead, kind="first")
    assert (first.utm_source, first.gclid) == ("google", "GCLID1")
    assert len(mail.outbox) == 1
    link = found(r"(http://\S+/download/\S+/)", str(mail.outbox[0].body))
    download = client.get(link.replace("http://127.0.0.1:8000", ""))
    assert download.status_code == 302
    assert download.url == "https://files.example.com/playbook.pdf"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"email": "nope"}, "email", "&#x27;nope&#x27; is not a valid e-mail address."),
        ({"email": ""}, "email", "This field is required."),
        ({"email": "x" * 400 + "@a.com"}, "email", "Ensure this value has at most 320 characters"),
        ({"phone": "12"}, "phone", "&#x27;12&#x27; is not a valid phone number for its country."),
        ({"website": "http://spam"}, "website", "This field must be left empty."),
        ({"submission_id": "forged"}, "submission_id", "This form was changed or is out of date; reload the page"),
    ],
)
def test_bad_optin_input_is_an_inline_error_and_stores_nothing(client, live_funnel, change, field, message):
    funnel, _ = live_funnel
    data = optin_form(client, funnel)
    data.update(change)
    response = client.post(url(funnel, "optin"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert (Lead.objects.count(), Consent.objects.count()) == (0, 0)
    assert not Event.objects.exclude(type="page_view").exists()


def test_oversize_and_invalid_utf8_bodies_are_400_without_a_trace(client, live_funnel):
    funnel, _ = live_funnel
    data = optin_form(client, funnel)
    big = client.post(url(funnel, "optin"), {**data, "first_name": "x" * 1_100_000})
    assert big.status_code == 400
    broken = client.post(
        url(funnel, "optin"),
        data=b"email=\xff\xfe%40x.com&submission_id=" + data["submission_id"].encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert broken.status_code == 400
    assert Lead.objects.count() == 0


def test_upsell_decline_follows_its_route_and_accept_explains_payments(client, live_funnel):
    funnel, _ = live_funnel
    answer = {"submission_id": str(uuid.uuid4())}
    declined = client.post(url(funnel, "upsell"), {**answer, "outcome": "decline"})
    assert declined.status_code == 302
    assert declined.url == url(funnel, "downsell")
    assert Event.objects.filter(type="upsell_declined").count() == 1
    accepted = client.post(url(funnel, "upsell"), {**answer, "outcome": "accept"})
    assert accepted.status_code == 409
    assert "Payments are not configured yet" in accepted.content.decode()
    assert not Event.objects.filter(type="upsell_accepted").exists()
    bogus = client.post(url(funnel, "upsell"), {**answer, "outcome": "maybe"})
    assert bogus.status_code == 400


def test_thank_you_pages_take_no_answers(client, live_funnel):
    funnel, _ = live_funnel
    response = client.post(url(funnel, "thanks"), {"outcome": "accept", "submission_id": str(uuid.uuid4())})
    assert response.status_code == 405
    assert not Event.objects.exists()


def test_order_form_says_payments_are_not_configured(client, live_funnel):
    funnel, _ = live_funnel
    page = client.get(url(funnel, "order")).content.decode()
    assert "Payments are not configured yet" in page
    assert "$17.00" in page  # the bump's price


def test_unpublished_funnels_and_unknown_steps_are_a_proper_404(client, live_funnel):
    funnel, _ = live_funnel
    missing = client.get(url(funnel, "nowhere"))
    assert missing.status_code == 404
    assert "Page not found" in missing.content.decode()
    funnel_unpublish(funnel=funnel)
    assert client.get(url(funnel, "optin")).status_code == 404
    assert client.get(reverse("funnels:entry", kwargs={"funnel_slug": funnel.slug})).status_code == 404
    assert not Event.objects.exists()


def test_entry_url_keeps_the_campaign_parameters(client, live_funnel):
    funnel, _ = live_funnel
    response = client.get(reverse("funnels:entry", kwargs={"funnel_slug": funnel.slug}) + "?utm_source=x")
    assert response.url == url(funnel, "optin") + "?utm_source=x"


def test_stored_text_is_escaped_on_the_pages(client, live_funnel):
    funnel, steps = live_funnel
    steps["optin"].headline = "<script>alert('x')</script>"
    steps["optin"].consent_ads_text = "<b>ads</b>"
    steps["optin"].save()
    page = client.get(url(funnel, "optin")).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;ads&lt;/b&gt;" in page


def test_split_test_variant_sticks_and_is_recorded_on_every_event(client, live_funnel):
    funnel, steps = live_funnel
    a = Variant.objects.create(step=steps["optin"], name="A", weight=1, headline="Headline A")
    b = Variant.objects.create(step=steps["optin"], name="B", weight=1, headline="Headline B")
    headlines = set()
    for _ in range(4):
        headlines.add(found(r"<h1>(.*?)</h1>", client.get(url(funnel, "optin")).content.decode()))
    assert len(headlines) == 1
    shown = a if headlines == {"Headline A"} else b
    client.post(url(funnel, "optin"), optin_form(client, funnel))
    assert set(Event.objects.filter(step_id=steps["optin"].pk).values_list("variant_id", flat=True)) == {shown.pk}


def test_split_test_spreads_visitors_by_weight(client, live_funnel):
    funnel, steps = live_funnel
    Variant.objects.create(step=steps["optin"], name="A", weight=3)
    Variant.objects.create(step=steps["optin"], name="B", weight=1)
    Variant.objects.create(step=steps["optin"], name="Paused", weight=0)
    for _ in range(400):
        client.cookies.clear()
        client.get(url(funnel, "optin"))
    counts = dict(Event.objects.values_list("variant_id").annotate(n=Count("id")))
    by_name = {v.name: counts.get(v.pk, 0) for v in Variant.objects.all()}
    assert by_name["Paused"] == 0
    assert 250 <= by_name["A"] <= 350  # expected 300 of 400
    assert by_name["A"] + by_name["B"] == 400


def test_admin_shows_visitors_and_conversions_per_variant(client, live_funnel):
    funnel, steps = live_funnel
    a = Variant.objects.create(step=steps["optin"], name="Short", weight=1)
    Variant.objects.create(step=steps["optin"], name="Long", weight=1)
    visitors = [uuid.uuid4() for _ in range(3)]
    yesterday = timezone.now() - dt.timedelta(days=1)
    for n, visitor in enumerate(visitors):
        Event.objects.create(
            type="page_view",
            visitor_id=visitor,
            step_id=steps["optin"].pk,
            variant_id=a.pk,
            occurred_at=yesterday,
            idempotency_key=f"v{n}",
        )
    Event.objects.create(
        type="optin",
        visitor_id=visitors[0],
        step_id=steps["optin"].pk,
        variant_id=a.pk,
        occurred_at=yesterday,
        idempotency_key="o1",
    )
    rollups_catch_up()
    client.force_login(UserFactory.create(username="mia", role="marketer"))
    page = client.get(reverse("admin:funnels_step_change", args=[steps["optin"].pk])).content.decode()
    link = f"/admin/reports/funnels/{funnel.slug}/#split-optin"
    assert link in page
    report = re.sub(r">\s+<", "><", client.get(link.split("#")[0]).content.decode())
    cells = '<td class="num">1</td><td class="num">3</td><td class="num">1</td><td class="num">33.3 %</td>'
    assert f"<td>Short (control)</td>{cells}" in report  # weight, visitors, conversions, rate


def test_download_links_expire_and_cannot_be_forged(client, live_funnel, settings):
    funnel, steps = live_funnel
    lead = Lead.objects.create(email="ada@example.com")
    token = lead_magnet_token(lead_id=lead.pk, offer_id=steps["optin"].offer_id)
    path = reverse("funnels:lead_magnet", kwargs={"funnel_slug": funnel.slug, "token": token})
    assert client.get(path).status_code == 302
    settings.LEAD_MAGNET_LINK_MAX_AGE = -1
    expired = client.get(path)
    assert expired.status_code == 410
    assert "This download link has expired" in expired.content.decode()
    forged = signing.TimestampSigner(salt="other").sign(f"{lead.pk}:{steps['optin'].offer_id}")
    assert (
        client.get(reverse("funnels:lead_magnet", kwargs={"funnel_slug": funnel.slug, "token": forged})).status_code
        == 404
    )


def test_lead_magnet_email_task_sends_once(live_funnel):
    funnel, steps = live_funnel
    lead = Lead.objects.create(email="ada@example.com", first_name="Ada")
    lead_magnet_email(lead_id=lead.pk, step_id=steps["optin"].pk)
    lead_magnet_email(lead_id=lead.pk, step_id=steps["optin"].pk)
    lead_magnet_email(lead_id=999_999, step_id=steps["optin"].pk)  # gone: nothing to do
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == f"Your copy of {steps['optin'].offer.name}"
    assert mail.outbox[0].body.startswith("Hi Ada,")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_optins_of_one_address_make_one_lead():
    """Six threads, each on its own PostgreSQL connection, capture the same address at the same moment."""
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def capture(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            lead_capture(
                email=f"  SAME@example.com{' ' * n}",
                idempotency_key=f"race:{n}",
                source="test",
                consents=[ConsentAnswer(purpose="ad_audiences", wording=ADS_WORDING, granted=True)],
            )
        except BaseException as error:  # noqa: BLE001 - the assertion below reports it
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=capture, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert Lead.objects.count() == 1
    assert Event.objects.filter(type="optin").count() == 6
    assert Consent.objects.count() == 6
    assert Funnel.objects.count() == 0


def test_sweep_sends_lead_magnets_whose_enqueue_was_lost(live_funnel):
    """An opt-in committed, then the process died before its task was queued: the sweep still delivers."""
    funnel, steps = live_funnel
    lead = Lead.objects.create(email="ada@example.com")
    Event.objects.create(
        type="optin",
        lead=lead,
        funnel_id=funnel.pk,
        step_id=steps["optin"].pk,
        occurred_at=timezone.now(),
        idempotency_key="optin:lost",
    )
    Event.objects.create(
        type="optin",
        lead=lead,
        funnel_id=funnel.pk,
        step_id=steps["upsell"].pk,
        occurred_at=timezone.now(),
        idempotency_key="optin:not-a-magnet-step",
    )

    assert lead_magnet_sweep() == 1
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert lead_magnet_sweep() == 0  # marked sent: nothing owed any more
    assert len(mail.outbox) == 1
