"""List imports over the staff API: a draft with its preview, a mapping corrected and started, progress and counts,
the skipped rows as CSV; bad files, mappings and statements are 400s naming the field."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leads.models import Consent, Lead, LeadImport
from pipeline.tokens import token_make
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = b"Mail,Name,Employees\nann@example.com,Ann Lee,40\nnope,Bo,\ncy@example.com,Cy,x\n"


@pytest.fixture
def api():
    marketer = UserFactory.create(role="marketer")
    return Client(headers={"Authorization": f"Bearer {token_make(user_id=marketer.pk, name='t').secret}"})


def post(api: Client, data: bytes = LIST, **fields: object):
    form = {
        "file": SimpleUploadedFile("list.csv", data, content_type="text/csv"),
        "name": "Old CRM export",
        "purposes": ["marketing_email", "ad_audiences"],
        "wording": "Keep me posted, including by ads.",
        **fields,
    }
    return api.post("/api/v1/leads/import", form)


def test_a_draft_shows_its_guessed_mapping_and_preview_then_starts(api, django_capture_on_commit_callbacks):
    made = post(api)
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "draft"
    assert body["mapping"] == {"Mail": "email", "Name": "full_name", "Employees": "company_size"}
    assert body["preview"][0] == {
        "line": 2,
        "email": "ann@example.com",
        "details": {"first_name": "Ann", "last_name": "Lee", "company_size": 40},
        "tags": [],
        "problems": {},
    }
    assert body["preview"][1]["problems"] == {"email": "is not a valid e-mail address"}
    url = f"/api/v1/leads/imports/{body['id']}"
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            f"{url}/start", {"mapping": {"Mail": "email", "Name": "first_name"}}, content_type="application/json"
        )
    assert started.status_code == 202, started.content
    done = api.get(url).json()
    assert (done["status"], done["created"], done["invalid"], done["rows_done"]) == ("done", 2, 1, 3)
    assert Lead.objects.get(email="ann@example.com").first_name == "Ann Lee"
    assert Consent.objects.filter(source__contains="Old CRM export").count() == 4
    again = api.post(f"{url}/start", {}, content_type="application/json")
    assert again.status_code == 409
    problems = api.get(done["problems_url"])
    rows = list(csv.reader(io.StringIO(b"".join(problems.streaming_content).decode())))
    assert rows[1][:3] == ["3", "email is not a valid e-mail address", "nope"]
    assert [item["id"] for item in api.get("/api/v1/leads/imports").json()] == [body["id"]]


def test_start_at_once_with_a_mapping(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        made = post(api, mapping=json.dumps({"Mail": "email"}), start="true")
    assert made.status_code == 202, made.content
    assert LeadImport.objects.get().status == "done"
    assert Lead.objects.count() == 2


@pytest.mark.parametrize(
    ("fields", "data", "field"),
    [
        ({"purposes": ["everything"]}, LIST, "purposes"),
        ({"wording": ""}, LIST, "wording"),
        ({"mapping": "[1]"}, LIST, "mapping"),
        ({"mapping": json.dumps({"Mail": "password"})}, LIST, "mapping"),
        ({"mapping": json.dumps({"Name": "first_name"})}, LIST, "mapping"),
        ({}, b"Mail\n", "file"),
        ({"default_country": "ZZ"}, LIST, "default_country"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, fields, data, field):
    answer = post(api, data, **fields)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"]
    assert not LeadImport.objects.exists()
    assert not Lead.objects.exists()
