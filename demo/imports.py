"""The demo's imported list: an old e-mail tool's webinar sign-ups, some already leads of the funnel, a few rows
broken as real exports are, imported through the same service the admin's import page uses."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

from django.utils import timezone

from demo.ladder import (
    AD_CONSENT_WORDING,
    COUNTRIES,
    DEMO_DOMAIN,
    EMAIL_CONSENT_WORDING,
    FIRST_NAMES,
    LAST_NAMES,
    SEED,
)
from leads import imports
from leads.models import Lead, LeadImport
from pipeline.services import pipeline_catch_up

IMPORT_NAME = "Webinar sign-ups (old e-mail tool)"
NEW_ROWS = 120
KNOWN_ROWS = 20
SIZES = ("", "", "8", "35", "120", "1,500")


def ensure_demo_import(*, created_by_id: int | None) -> LeadImport:
    """Import the demo's list once (running the seed again changes nothing)."""
    done = LeadImport.objects.filter(name=IMPORT_NAME).first()
    if done is not None:
        return done
    rng = random.Random(SEED + 1)
    now = timezone.now()
    known = Lead.objects.filter(email__endswith="@" + DEMO_DOMAIN).order_by("pk").values_list("email", flat=True)
    out = io.StringIO()
    write = csv.writer(out).writerow
    write(["Email", "Name", "Country", "Company size", "Tags", "Signed up"])
    for number in range(NEW_ROWS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        signed_up = (now - dt.timedelta(days=rng.randrange(30, 700))).date().isoformat()
        country = rng.choice(COUNTRIES)[0]
        email = f"webinar.{number}@{DEMO_DOMAIN}"
        if number % 40 == 13:
            email = email.replace("@", " at ")  # an address the old tool never checked
        write([email, f"{first} {last}", country, rng.choice(SIZES), "webinar", signed_up])
    for email in list(known[: KNOWN_ROWS * 25 : 25]):  # people who are leads already: only empty details fill in
        write([email.upper(), "", "", rng.choice(SIZES[2:]), "webinar", ""])
    write([f"webinar.1@{DEMO_DOMAIN}", "", "", "", "", ""])  # a repeat
    basis = imports.Basis(
        purposes=("marketing_email", "ad_audiences"),
        wording=f"{EMAIL_CONSENT_WORDING} {AD_CONSENT_WORDING}",
        legal_basis="consent",
        assume_eea=True,
    )
    lead_import = imports.import_create(
        name=IMPORT_NAME,
        upload=io.BytesIO(out.getvalue().encode()),
        filename="webinar-signups.csv",
        basis=basis,
        tag_name="webinar",
        created_by_id=created_by_id,
    )
    imports.import_start(lead_import=lead_import)
    imports.import_run(import_id=lead_import.pk, max_seconds=600)  # now, rather than when the seed's work commits
    pipeline_catch_up()  # imported leads reach the "New" stage and their owners, as beat would do it
    lead_import.refresh_from_db()
    return lead_import
