"""Importing an existing list: mapping, dedupe into known leads (filling only empty fields), the stated consent basis
on every consent row, refused and invalid rows listed with their lines, resuming a run killed halfway, and imported
leads entering audiences like any other."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from audiences.models import AudienceMember
from audiences.services import audience_refresh
from leads import imports
from leads.identity import email_fingerprint
from leads.imports import Basis, ImportInvalid, writing
from leads.models import Consent, Event, ImportProblem, Lead, LeadImport, Suppression, Tag
from tests.factories import AudienceFactory, LeadFactory

pytestmark = pytest.mark.django_db

BASIS = Basis(
    purposes=("marketing_email", "ad_audiences"),
    wording="Send me the newsletter and show me relevant ads.",
    legal_basis="consent",
    assume_eea=False,
)


def csv_bytes(rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode("utf-8")


def made(rows: list[list[str]], basis: Basis = BASIS, **options: Any) -> LeadImport:
    return imports.import_create(
        name="Newsletter 2025", upload=io.BytesIO(csv_bytes(rows)), filename="list.csv", basis=basis, **options
    )


def run(lead_import: LeadImport) -> LeadImport:
    imports.import_start(lead_import=lead_import)  # tasks run in-process here: the import runs on commit
    lead_import.refresh_from_db()
    if lead_import.status != LeadImport.Status.DONE:
        assert imports.import_run(import_id=lead_import.pk)
        lead_import.refresh_from_db()
    return lead_import


def test_the_mapping_is_guessed_from_the_header_and_checked():
    lead_import = made(
        [["E-mail Address", "First Name", "Surname", "ZIP", "Notes"], ["a@example.com", "A", "B", "1", "x"]]
    )
    assert lead_import.mapping == {
        "E-mail Address": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "ZIP": "postal_code",
        "Notes": "",
    }
    assert lead_import.rows_total == 1
    with pytest.raises(ImportInvalid, match="e-mail address"):
        imports.import_map(lead_import=lead_import, mapping={"Notes": "city"})
    with pytest.raises(ImportInvalid, match="Only one column"):
        imports.import_map(lead_import=lead_import, mapping={"E-mail Address": "email", "Notes": "email"})
    with pytest.raises(ImportInvalid, match="not a lead field"):
        imports.import_map(lead_import=lead_import, mapping={"E-mail Address": "email", "Notes": "password"})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (b"", "file", "empty"),
        (b"email\n", "file", "no rows"),
        ("email\nb\xe9@example.com\n".encode("latin-1"), "file", "UTF-8"),
        (b"email,email\na@example.com,b@example.com\n", "file", "name of its own"),
    ],
)
def test_a_file_that_will_not_do_is_refused_and_nothing_is_stored(data, field, message):
    with pytest.raises(ImportInvalid) as refused:
        imports.import_create(name="x", upload=io.BytesIO(data), filename="x.csv", basis=BASIS)
    assert message in " ".join(refused.value.errors[field])
    assert not LeadImport.objects.exists()


def test_the_consent_statement_is_required_once_per_import():
    with pytest.raises(ImportInvalid) as refused:
        made([["email"], ["a@example.com"]], basis=Basis(purposes=(), wording=" ", legal_basis="guess"))
    assert set(refused.value.errors) == {"purposes", "wording", "legal_basis"}


def test_rows_become_leads_with_the_stated_consent_and_the_import_as_its_source():
    lead_import = made(
        [
            ["email", "name", "phone", "country", "company size", "tags", "signed up"],
            [" Ann@Example.COM ", "Ann Lee", "+1 415 555 0123", "us", "1,200", "vip; webinar", "2025-03-01"],
            ["bo@example.com", "Bo", "", "", "", "", ""],
        ],
        tag_name="Newsletter",
    )
    lead_import = run(lead_import)
    assert (lead_import.status, lead_import.created, lead_import.invalid, lead_import.rows_done) == ("done", 2, 0, 2)
    ann = Lead.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.phone, ann.country, ann.company_size) == (
        "Ann",
        "Lee",
        "+14155550123",
        "US",
        1200,
    )
    assert set(ann.tags.values_list("name", flat=True)) == {"vip", "webinar", "newsletter"}
    consents = Consent.objects.filter(lead=ann)
    assert {c.purpose for c in consents} == {"marketing_email", "ad_audiences"}
    for consent in consents:
        assert consent.source == f"import {lead_import.pk}: Newsletter 2025"
        assert consent.wording == BASIS.wording
        assert consent.legal_basis == "consent"
        assert consent.occurred_at.date().isoformat() == "2025-03-01"  # when it was given, as the list says
    event = Event.objects.get(lead=ann)
    assert (event.type, event.properties["import"]) == ("imported", lead_import.pk)


def test_known_leads_get_only_their_empty_fields_filled_and_repeats_count_once():
    known = LeadFactory.create(email="ann@example.com", first_name="Annie", last_name="", city="")
    lead_import = run(
        made(
            [
                ["email", "first name", "last name", "city"],
                ["ann@example.com", "Ann", "Lee", "Oslo"],
                ["ANN@example.com", "X", "Y", "Bergen"],
                ["new@example.com", "N", "", ""],
            ]
        )
    )
    known.refresh_from_db()
    assert (known.first_name, known.last_name, known.city) == ("Annie", "Lee", "Oslo")
    assert (lead_import.created, lead_import.merged, lead_import.repeated) == (1, 1, 1)
    assert Lead.objects.count() == 2
    assert Consent.objects.filter(lead=known).count() == 2  # one per purpose, however often the row repeats


def test_bad_and_forgotten_rows_are_listed_by_line_and_the_rest_imported():
    Suppression.objects.create(email_sha256=email_fingerprint("gone@example.com"))
    rows = [
        ["email", "phone", "signed up"],
        ["ok@example.com", "", ""],
        ["not-an-address", "", ""],
        ["bad-phone@example.com", "12", ""],
        ["gone@example.com", "", ""],
        ["later@example.com", "", "2999-01-01"],
    ]
    lead_import = run(made(rows))
    assert (lead_import.created, lead_import.invalid, lead_import.refused) == (1, 3, 1)
    assert list(Lead.objects.values_list("email", flat=True)) == ["ok@example.com"]
    report = list(imports.problems_csv(lead_import))
    assert report[0] == ["line", "problems", "email", "phone", "signed up"]
    assert [line[0] for line in report[1:]] == ["3", "4", "5", "6"]
    assert report[1][1] == "email is not a valid e-mail address"
    assert report[1][2] == "not-an-address"
    assert "phone" in report[2][1]
    assert "forgotten" in report[3][1]
    assert "future" in report[4][1]
    assert not ImportProblem.objects.filter(message__contains="@").exists(), "messages never copy the values"


def test_ad_audiences_need_consent_itself_under_eea_rules():
    basis = Basis(
        purposes=("marketing_email", "ad_audiences"),
        wording="Customers of our shop.",
        legal_basis="legitimate_interest",
        assume_eea=True,
    )
    run(made([["email", "country"], ["de@example.com", "DE"], ["us@example.com", "US"], ["x@example.com", ""]], basis))
    granted = set(Consent.objects.filter(purpose="ad_audiences").values_list("lead__email", flat=True))
    assert granted == {"us@example.com"}
    assert Consent.objects.filter(purpose="marketing_email").count() == 3


def test_a_run_killed_halfway_goes_on_where_it_stopped_and_writes_nothing_twice(monkeypatch):
    monkeypatch.setattr(writing, "CHUNK", 3)
    rows = [["email"]] + [[f"p{n}@example.com"] for n in range(10)]
    lead_import = made(rows)
    LeadImport.objects.filter(pk=lead_import.pk).update(status=LeadImport.Status.QUEUED)
    calls = {"n": 0}
    real = writing._write

    def dies_on_the_third_chunk(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args)

    monkeypatch.setattr(writing, "_write", dies_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        imports.import_run(import_id=lead_import.pk)
    lead_import.refresh_from_db()
    assert (lead_import.rows_done, lead_import.status) == (6, "running")
    assert imports.import_run(import_id=lead_import.pk)
    lead_import.refresh_from_db()
    assert (lead_import.rows_done, lead_import.created, lead_import.status) == (10, 10, "done")
    assert Lead.objects.count() == 10
    assert Consent.objects.count() == 20
    assert Event.objects.filter(type="imported").count() == 10


def test_imported_leads_enter_audiences_like_any_other():
    Tag.objects.create(name="newsletter")
    audience = AudienceFactory.create(rule={"lead": {"tags_any": ["newsletter"], "consent": "ad_audiences"}})
    run(made([["email"], ["ann@example.com"], ["bo@example.com"]], tag_name="newsletter"))
    audience_refresh(audience=audience)
    assert AudienceMember.objects.filter(audience=audience).count() == 2


def test_semicolons_and_a_bom_are_read():
    data = "\ufeffEmail;First name\nann@example.com;Ann\n".encode()
    lead_import = imports.import_create(name="x", upload=io.BytesIO(data), filename="x.csv", basis=BASIS)
    assert (lead_import.delimiter, lead_import.columns) == (";", ["Email", "First name"])
    preview = imports.import_preview(lead_import=lead_import)
    assert (preview[0].email, preview[0].details) == ("ann@example.com", {"first_name": "Ann"})
