"""The list import in the admin, as a marketer uses it: upload with the consent statement, map against the preview,
start, see the outcome, download the skipped rows. Sales may not import."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leads.models import Consent, Lead, LeadImport
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = b"Mail,Given,Family,Member since\nann@example.com,Ann,Lee,2025-01-02\nbroken,Bo,,\ncy@example.com,Cy,,\n"


def logged_in(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory.create(role=role))
    return client


def upload(client: Client, data: bytes = LIST, **fields: object):
    form = {
        "name": "Webinar sign-ups",
        "purposes": ["marketing_email"],
        "wording": "Send me the webinar recording and news.",
        "legal_basis": "consent",
        "assume_eea": "on",
        "tag": "webinar",
        "file": SimpleUploadedFile("list.csv", data, content_type="text/csv"),
        **fields,
    }
    return client.post("/admin/leads/leadimport/add/", form)


def test_a_marketer_uploads_maps_previews_and_imports_a_list(django_capture_on_commit_callbacks):
    client = logged_in("marketer")
    answer = upload(client)
    assert answer.status_code == 302
    lead_import = LeadImport.objects.get()
    page = client.get(answer["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "ann@example.com" in text
    assert "is not a valid e-mail address" in text
    mapping = {"column_0": "email", "column_1": "first_name", "column_2": "last_name", "column_3": "signed_up_at"}
    preview = client.post(answer["Location"], {**mapping, "preview": "1"})
    assert preview.status_code == 200
    assert "2025-01-02" in preview.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit; it runs in-process here
        assert client.post(answer["Location"], {**mapping, "start": "1"}).status_code == 302
    lead_import.refresh_from_db()
    assert (lead_import.status, lead_import.created, lead_import.invalid) == ("done", 2, 1)
    assert set(Lead.objects.values_list("email", flat=True)) == {"ann@example.com", "cy@example.com"}
    assert Consent.objects.filter(source__startswith=f"import {lead_import.pk}:").count() == 2
    listed = client.get("/admin/leads/leadimport/")
    assert listed.status_code == 200
    assert "3/3" in listed.content.decode()  # the progress column
    outcome = client.get(answer["Location"]).content.decode()
    assert "Download the 1 skipped row" in outcome
    download = client.get(f"/admin/leads/leadimport/{lead_import.pk}/problems.csv")
    body = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows == [
        ["line", "problems", "Mail", "Given", "Family", "Member since"],
        ["3", "email is not a valid e-mail address", "broken", "Bo", "", ""],
    ]
    # Started: the mapping can no longer change.
    assert client.post(answer["Location"], {**mapping, "start": "1"}).status_code == 403


def test_a_mapping_without_the_address_is_refused_with_the_reason():
    client = logged_in("marketer")
    location = upload(client)["Location"]
    answer = client.post(location, {"column_1": "first_name", "start": "1"})
    assert answer.status_code == 400
    assert "Choose the column that holds the e-mail address" in answer.content.decode()
    assert LeadImport.objects.get().status == "draft"


def test_a_bad_upload_says_what_to_fix_and_stores_nothing():
    client = logged_in("marketer")
    answer = upload(client, data=b"", purposes=[], wording="")
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "This field is required" in text
    assert not LeadImport.objects.exists()
    answer = upload(client, data="email\nb\u00e9@x.com\n".encode("latin-1"))
    assert answer.status_code == 400
    assert "UTF-8" in answer.content.decode()


def test_sales_may_not_import():
    client = logged_in("sales")
    assert client.get("/admin/leads/leadimport/add/").status_code == 403
    assert upload(client).status_code == 403
    assert not LeadImport.objects.exists()
