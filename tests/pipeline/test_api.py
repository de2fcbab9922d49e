"""The staff REST API: personal tokens, filters, cursor pages, field selection, CSV, writes through the same services
as the admin, one error shape, and a role × route × method matrix."""

from __future__ import annotations

import datetime as dt
import io
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from analytics.models import Buyer
from leads import imports
from leads.imports import Basis
from leads.models import Lead, Note, ScoreEvent, Stage, StageMove, Tag, Task
from leads.pipeline import leads_stage_move, note_add
from pipeline.api import urls
from pipeline.models import ApiToken
from pipeline.tokens import token_make, token_revoke
from tests.factories import ConsentFactory, LeadFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def bearer(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {token_make(user_id=user.pk, name='test').secret}"})


@pytest.fixture
def seller() -> User:
    return UserFactory.create(role="sales")


@pytest.fixture
def api(seller: User) -> Client:
    return bearer(seller)


def test_the_command_prints_a_token_once_and_keeps_only_its_hash(seller):
    out, err = StringIO(), StringIO()
    call_command("api_token", "--user", seller.username, "--name", "CRM sync", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(user=seller)
    assert secret.startswith(f"ldr_{token.prefix}_")
    assert secret.split("_", 2)[2] not in repr(list(ApiToken.objects.values()))
    assert "shown only now" in err.getvalue()
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/api/v1/stages").status_code == 200
    call_command("api_token", "--user", seller.username, "--revoke", token.prefix, stdout=StringIO())
    refused = client.get("/api/v1/stages")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "The token is unknown, revoked, or its user is inactive.", "fields": {}}
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("api_token", "--user", "nobody")


def test_a_wrong_or_inactive_users_token_is_refused(seller):
    assert Client(headers={"Authorization": "Bearer ldr_abc_def"}).get("/api/v1/leads").status_code == 401
    client = bearer(seller)
    User.objects.filter(pk=seller.pk).update(is_active=False)
    assert client.get("/api/v1/leads").status_code == 401
    assert Client().get("/api/v1/leads").status_code == 401


def test_filters_search_order_and_select_fields(api, seller):
    won = Stage.objects.get(name="Won")
    vip = Tag.objects.create(name="vip")
    rich = LeadFactory.create(email="rich@example.com", score=80)
    leads_stage_move(leads=Lead.objects.filter(pk=rich.pk), to_stage=won, by_id=None)
    rich.tags.add(vip)
    Lead.objects.filter(pk=rich.pk).update(owner=seller)
    today = timezone.localdate()
    Buyer.objects.create(lead_id=rich.pk, currency="USD", first_day=today, last_day=today, orders=1, net_minor=9900)
    OrderFactory.create(lead=rich, status="paid", paid_at=timezone.now())
    LeadFactory.create(email="poor@example.com", first_name="Penny", score=3)

    def emails(query: str) -> list[str]:
        answer = api.get(f"/api/v1/leads?{query}")
        assert answer.status_code == 200, answer.content
        return [row["email"] for row in answer.json()["results"]]

    assert emails(f"stage={won.pk}") == ["rich@example.com"]
    assert emails("owner=me") == ["rich@example.com"]
    assert emails("owner=none") == ["poor@example.com"]
    assert emails("tag=vip") == ["rich@example.com"]
    assert emails("score_min=50") == ["rich@example.com"]
    assert emails("score_max=50") == ["poor@example.com"]
    assert emails("has_purchased=true") == ["rich@example.com"]
    assert emails("has_purchased=false") == ["poor@example.com"]
    assert emails("value_min=5000&currency=USD") == ["rich@example.com"]
    assert emails("q=penny") == ["poor@example.com"]
    assert emails("ordering=-score") == ["rich@example.com", "poor@example.com"]
    assert emails("ordering=score") == ["poor@example.com", "rich@example.com"]
    row = api.get("/api/v1/leads?fields=id,email,score,net&q=rich").json()["results"][0]
    assert row == {
        "id": str(rich.public_id),
        "email": "rich@example.com",
        "score": 80,
        "net": [{"currency": "USD", "amount_minor": 9900}],
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("score_min=lots", "score_min"),
        ("stage=999999", "stage"),
        ("owner=someone", "owner"),
        ("created_after=yesterday", "created_after"),
        ("has_purchased=maybe", "has_purchased"),
        ("value_min=100", "currency"),
        ("ordering=password", "ordering"),
        ("fields=email,password", "fields"),
    ],
)
def test_a_bad_filter_is_a_400_naming_its_parameter(api, query, field):
    answer = api.get(f"/api/v1/leads?{query}")
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"detail", "fields"}
    assert field in body["fields"]


def test_cursor_pages_cover_every_lead_once(api):
    LeadFactory.create_batch(23)
    seen, url = [], "/api/v1/leads?limit=10&fields=id"
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 23


def test_a_lead_with_its_timeline_and_the_writes_sales_make(api, seller):
    lead = LeadFactory.create(score=10)
    ConsentFactory.create(lead=lead)
    note_add(lead=lead, author_id=seller.pk, body="Called.")
    detail = api.get(f"/api/v1/leads/{lead.public_id}").json()
    assert detail["notes"][0]["body"] == "Called."
    assert detail["consents"][0]["purpose"] == "ad_audiences"
    assert {"timeline", "orders", "tasks"} <= set(detail)

    assert api.post(f"/api/v1/leads/{lead.public_id}/notes", {"body": "Sent the plan."}).status_code == 201
    assert Note.objects.filter(lead=lead).count() == 2

    due = (timezone.now() + dt.timedelta(days=1)).isoformat()
    task = api.post(f"/api/v1/leads/{lead.public_id}/tasks", {"title": "Call back", "due_at": due, "kind": "call"})
    assert task.status_code == 201
    assert task.json()["assignee"] == seller.pk
    done = api.patch(f"/api/v1/tasks/{task.json()['id']}", {"done": True}, content_type="application/json")
    assert done.status_code == 200
    assert Task.objects.get().done_at is not None

    qualified = Stage.objects.get(name="Qualified")
    moved = api.post(f"/api/v1/leads/{lead.public_id}/stage-moves", {"stage": qualified.pk, "reason": "good call"})
    assert moved.status_code == 201
    move = StageMove.objects.get(lead=lead)
    assert (move.to_stage, move.moved_by, move.reason) == (qualified, seller, "good call")
    assert api.get(f"/api/v1/leads/{lead.public_id}/stage-moves").json()["results"][0]["to_stage"] == qualified.pk

    added = api.post(f"/api/v1/leads/{lead.public_id}/score-events", {"points": 15, "reason": "asked for a demo"})
    assert added.status_code == 201
    assert api.get(f"/api/v1/leads?fields=score&q={lead.email}").json()["results"][0]["score"] == 25
    log = api.get(f"/api/v1/leads/{lead.public_id}/score-events").json()["results"]
    assert sorted(entry["points"] for entry in log) == [10, 15]
    assert ScoreEvent.objects.filter(lead=lead, author=seller).count() == 1

    owner = api.patch(f"/api/v1/leads/{lead.public_id}", {"owner": seller.pk}, content_type="application/json")
    assert owner.json()["owner"] == seller.pk
    refused = api.patch(f"/api/v1/leads/{lead.public_id}", {"stage": 1}, content_type="application/json")
    assert refused.status_code == 400
    assert "stage" in refused.json()["fields"]
    bad = api.post(f"/api/v1/leads/{lead.public_id}/score-events", {"points": 0, "reason": ""})
    assert set(bad.json()["fields"]) == {"points", "reason"}


def test_the_lead_list_streams_as_csv_with_formulas_quoted(api):
    LeadFactory.create(email="a@example.com", first_name='=HYPERLINK("x")', phone="+14155550123")
    LeadFactory.create_batch(3)
    answer = api.get("/api/v1/leads?format=csv&ordering=email")
    assert answer["Content-Type"].startswith("text/csv")
    text = b"".join(answer.streaming_content).decode()
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,email,first_name")
    assert len(lines) == 5
    assert "'=HYPERLINK" in text
    assert ",+14155550123," in text


# --- who may do what ---------------------------------------------------------------------------------------------

ROUTES = {  # (method, path template) → permission held by (sales, marketer); admins hold all
    ("GET", "leads"): (True, True),
    ("GET", "leads/{lead}"): (True, True),
    ("PATCH", "leads/{lead}"): (True, True),
    ("GET", "leads/{lead}/notes"): (True, True),
    ("POST", "leads/{lead}/notes"): (True, True),
    ("GET", "leads/{lead}/tasks"): (True, True),
    ("POST", "leads/{lead}/tasks"): (True, True),
    ("GET", "tasks/{task}"): (True, True),
    ("PATCH", "tasks/{task}"): (True, True),
    ("GET", "leads/{lead}/stage-moves"): (True, True),
    ("POST", "leads/{lead}/stage-moves"): (True, True),
    ("GET", "leads/{lead}/score-events"): (True, True),
    ("POST", "leads/{lead}/score-events"): (True, True),
    ("GET", "stages"): (True, True),
    ("GET", "owners"): (True, True),
    ("POST", "leads/import"): (False, True),
    ("GET", "leads/imports"): (False, True),
    ("GET", "leads/imports/{import}"): (False, True),
    ("POST", "leads/imports/{import}/start"): (False, True),
    ("GET", "leads/imports/{import}/problems"): (False, True),
}
LIST = b"email\nann@example.com\n"


def _bodies(lead: Lead) -> dict[tuple[str, str], dict[str, object]]:
    due = (timezone.now() + dt.timedelta(days=1)).isoformat()
    return {
        ("PATCH", "leads/{lead}"): {"owner": None},
        ("POST", "leads/{lead}/notes"): {"body": "hello"},
        ("POST", "leads/{lead}/tasks"): {"title": "t", "due_at": due},
        ("PATCH", "tasks/{task}"): {"title": "renamed"},
        ("POST", "leads/{lead}/stage-moves"): {"stage": Stage.objects.get(name="Engaged").pk},
        ("POST", "leads/{lead}/score-events"): {"points": 1, "reason": "r"},
    }


def test_every_pipeline_route_is_in_the_matrix():
    patterns = {
        str(p.pattern)
        .replace("imports/<uuid:public_id>", "imports/{import}")
        .replace("<uuid:public_id>", "{lead}")
        .replace("<int:pk>", "{task}")
        for p in urls.urlpatterns
    }
    assert patterns == {path for _, path in ROUTES}


@pytest.mark.parametrize("who", ["sales", "marketer", "admin", "anonymous", "revoked"])
def test_role_by_route_by_method(who):
    lead = LeadFactory.create()
    task = Task.objects.create(lead=lead, title="x", due_at=timezone.now())
    if who == "anonymous":
        client = Client()
    else:
        role = {"admin": None, "revoked": "sales"}.get(who, who)
        user = UserFactory.create(is_superuser=True) if who == "admin" else UserFactory.create(role=role)
        made = token_make(user_id=user.pk, name="matrix")
        if who == "revoked":
            token_revoke(token=made.token)
        client = Client(headers={"Authorization": f"Bearer {made.secret}"})
    draft = imports.import_create(
        name="matrix",
        upload=io.BytesIO(LIST),
        filename="l.csv",
        basis=Basis(purposes=("marketing_email",), wording="w", legal_basis="consent"),
    )
    bodies = _bodies(lead)
    for (method, template), (sales, marketer) in ROUTES.items():
        url = "/api/v1/" + template.replace("{lead}", str(lead.public_id)).replace("{task}", str(task.pk))
        url = url.replace("{import}", str(draft.public_id))
        call = getattr(client, method.lower())
        if method == "GET":
            answer = call(url)
        elif template == "leads/import":
            upload = SimpleUploadedFile("l.csv", LIST, content_type="text/csv")
            answer = call(url, {"file": upload, "name": "n", "purposes": ["marketing_email"], "wording": "w"})
        else:
            answer = call(url, bodies.get((method, template), {}), content_type="application/json")
        allowed = {"sales": sales, "marketer": marketer, "admin": True}.get(who)
        if who in ("anonymous", "revoked"):
            assert answer.status_code == 401, (method, url, answer.status_code)
            assert set(answer.json()) == {"detail", "fields"}
        elif allowed:
            assert answer.status_code in (200, 201, 202), (who, method, url, answer.status_code, answer.content[:300])
        else:
            assert answer.status_code == 403, (who, method, url, answer.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/reports/roi",
        "/api/v1/reports/offers",
        "/api/v1/reports/lifetime-value/buyers",
        "/admin/audiences/destination/",
        "/admin/audiences/conversiondestination/",
        "/admin/offers/payment/",
        "/admin/offers/stripeevent/",
        "/admin/spend/adaccount/",
        "/admin/reports/",
    ],
)
def test_sales_read_no_destinations_credentials_payment_internals_or_reports(seller, url):
    client = Client()
    client.force_login(seller)
    assert client.get(url).status_code == 403
