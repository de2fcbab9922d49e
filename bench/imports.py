"""Importing an existing list on PostgreSQL: 100,000 rows, streamed, without the file in memory.

    python -m bench.imports [--rows 100000]

Writes a CSV of ``--rows`` rows (a fifth of them addresses Ladder already has, one in ten repeating an earlier row,
one in fifty invalid; names, countries, company sizes, two tags) and measures in the same run:

* rows a second of the import (``leads.imports.import_run``: chunks of 2,000, each committed with its progress),
  against the same rows written one at a time through the capture service (``leads.services.lead_capture`` with
  the same consents) on a 5,000-row sample;
* the peak Python heap (tracemalloc) while importing the whole file, against importing a tenth of it: a streamed
  import needs the same memory whatever the file's length.

It checks what was imported (new, merged, repeated, invalid and the consent rows) against the numbers the file was
made with. The last lines are JSON objects (name, measured, baseline, ratio, target, passed), as `make bench` expects.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.audiences import setup_django

DB = os.environ.get("BENCH_IMPORTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench_imports")
SAMPLE = 5000
KNOWN_EVERY, REPEAT_EVERY, INVALID_EVERY = 5, 10, 50


def write_file(path: Path, rows: int) -> dict[str, int]:
    """The list, and what importing it must give."""
    expected = {"created": 0, "merged": 0, "repeated": 0, "invalid": 0}
    countries = ["US", "GB", "DE", "FR", "CA", "AU", "NL", "ES"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Email", "First name", "Last name", "Country", "Employees", "Tags", "Signed up"])
        for n in range(rows):
            if n % INVALID_EVERY == 7:
                out.writerow([f"broken-{n}", "X", "Y", "US", "", "", ""])
                expected["invalid"] += 1
                continue
            if n % REPEAT_EVERY == 9:
                email = f"person{n - 1}@example.com" if (n - 1) % INVALID_EVERY != 7 else f"person{n - 2}@example.com"
                expected["repeated"] += 1
            else:
                email = f"person{n}@example.com"
                expected["merged" if n % KNOWN_EVERY == 0 else "created"] += 1
            out.writerow(
                [email, f"First{n}", f"Last{n}", countries[n % 8], str(10 + n % 500), "list;imported", "2025-06-01"]
            )
    return expected


def known_leads(rows: int) -> None:
    """Every fifth address is a lead already (with a first name the import must keep)."""
    from leads.batches import leads_upsert

    emails = [f"person{n}@example.com" for n in range(0, rows, KNOWN_EVERY) if n % INVALID_EVERY != 7]
    for start in range(0, len(emails), 5000):
        leads_upsert(details={email: {"first_name": "Known"} for email in emails[start : start + 5000]})


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_leadimport, leads_tag, leads_suppression RESTART IDENTITY CASCADE")


def run_import(path: Path, *, trace: bool = False) -> tuple[Any, float, int]:
    from leads import imports
    from leads.imports import Basis
    from leads.models import LeadImport

    basis = Basis(purposes=("marketing_email", "ad_audiences"), wording="News and ads.", legal_basis="consent")
    with path.open("rb") as upload:
        made = imports.import_create(name="bench", upload=upload, filename=path.name, basis=basis, tag_name="bench")
    LeadImport.objects.filter(pk=made.pk).update(status=LeadImport.Status.QUEUED)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    total = made.rows_total

    def shown(lead_import: Any) -> None:
        width = 30
        filled = width * lead_import.rows_done // max(total, 1)
        rate = lead_import.rows_done / max(time.perf_counter() - started, 1e-9)
        bar = "#" * filled + "." * (width - filled)
        print(f"\rimport     [{bar}] {lead_import.rows_done:>9,}/{total:,} {rate:,.0f}/s", end="", flush=True)

    if not imports.import_run(import_id=made.pk, max_seconds=3600, progress=shown):
        raise SystemExit("the import did not finish within an hour")
    seconds = time.perf_counter() - started
    print()
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    made.refresh_from_db()
    return made, seconds, peak


def one_at_a_time(rows: int) -> float:
    """The baseline: each row through the capture service, as a loop over the rows would do it."""
    from leads.contracts import ConsentAnswer
    from leads.services import lead_capture

    consents = [
        ConsentAnswer(purpose=p, wording="News and ads.", granted=True) for p in ("marketing_email", "ad_audiences")
    ]
    started = time.perf_counter()
    for n in range(rows):
        lead_capture(
            email=f"sample{n}@example.com",
            idempotency_key=f"bench-sample-{n}",
            source="bench",
            first_name=f"First{n}",
            last_name=f"Last{n}",
            consents=consents,
        )
    return rows / (time.perf_counter() - started)


def figure(name: str, measured: float, baseline: float, target: str, passed: bool, ratio: float) -> None:
    print(
        json.dumps(
            {
                "name": name,
                "measured": round(measured, 2),
                "baseline": round(baseline, 2),
                "ratio": round(ratio, 2),
                "target": target,
                "passed": passed,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ladder-bench-import-") as directory:
        os.environ["PRIVATE_ROOT"] = directory  # the uploads of this run, removed with it
        setup_django(DB)
        from leads.models import Consent, Lead

        whole, tenth = Path(directory) / "whole.csv", Path(directory) / "tenth.csv"
        expected = write_file(whole, args.rows)
        write_file(tenth, args.rows // 10)

        reset()
        known_leads(args.rows)
        made, seconds, _ = run_import(whole)
        rate = args.rows / seconds
        got = {name: getattr(made, name) for name in expected}
        leads = Lead.objects.count()
        consents = Consent.objects.count()
        kept = Lead.objects.filter(email="person0@example.com").values_list("first_name", flat=True).get()
        correct = (
            got == expected
            and leads == expected["created"] + expected["merged"]
            and consents == 2 * (expected["created"] + expected["merged"])
            and kept == "Known"
        )
        print(f"imported {got}, expected {expected}; {leads:,} leads, {consents:,} consents; correct={correct}")

        reset()
        baseline_rate = one_at_a_time(SAMPLE)

        reset()
        _, _, small_peak = run_import(tenth, trace=True)
        reset()
        _, _, big_peak = run_import(whole, trace=True)
    ratio = rate / baseline_rate
    figure("import_rows_per_s", rate, baseline_rate, ">= 5x one at a time", correct and ratio >= 5, ratio)
    memory = big_peak / max(small_peak, 1)
    figure(
        "import_heap_mb_whole_vs_tenth",
        big_peak / 1e6,
        small_peak / 1e6,
        "<= 1.5x (streamed)",
        memory <= 1.5,
        memory,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
