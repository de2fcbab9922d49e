from __future__ import annotations

import csv
import datetime as dt
import json
import math
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.clv import ModelNotUsable, compress, fit_bgnbd, fit_gamma_gamma, predicted_value, summarize

HEADER = ["customer_id", "date", "amount"]


def read_transactions(path: Path) -> list[tuple[str, dt.date, float]]:
    """The CSV's rows as (customer, day, amount); CommandError names the first bad line and what is wrong."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
    rows: list[tuple[str, dt.date, float]] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise CommandError(
                f"{path} is empty; it needs the header {','.join(HEADER)} and one row a purchase."
            ) from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise CommandError(f"{path} line 1: not a UTF-8 CSV file ({error}).") from None
        missing = [name for name in HEADER if name not in header]
        if missing:
            raise CommandError(f"{path} line 1: the header lacks {', '.join(missing)}; expected {','.join(HEADER)}.")
        columns = [header.index(name) for name in HEADER]
        try:
            for line, record in enumerate(reader, start=2):
                if not record or not any(cell.strip() for cell in record):
                    continue
                if len(record) < len(header):
                    raise CommandError(f"{path} line {line}: {len(record)} fields, the header has {len(header)}.")
                customer, date_text, amount_text = (record[i].strip() for i in columns)
                if not customer:
                    raise CommandError(f"{path} line {line}: customer_id is empty.")
                try:
                    day = dt.date.fromisoformat(date_text)
                except ValueError:
                    raise CommandError(f"{path} line {line}: date {date_text[:30]!r} is not YYYY-MM-DD.") from None
                try:
                    amount = Decimal(amount_text)
                except InvalidOperation:
                    raise CommandError(f"{path} line {line}: amount {amount_text[:30]!r} is not a number.") from None
                if not amount.is_finite() or amount < 0:
                    raise CommandError(f"{path} line {line}: amount {amount_text[:30]} must be zero or more.")
                rows.append((customer, day, float(amount)))
        except (csv.Error, UnicodeDecodeError) as error:
            raise CommandError(f"{path} line {reader.line_num}: not a UTF-8 CSV file ({error}).") from None
    if not rows:
        raise CommandError(f"{path} has a header but no purchases.")
    return rows


class Command(BaseCommand):
    help = (
        "Fit the BG/NBD purchase model and the Gamma-Gamma spend model on a CSV of purchases "
        "(customer_id,date,amount; ISO dates, amounts in major units). The last line printed is one JSON object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transactions", required=True, type=Path, help="The CSV file.")
        parser.add_argument("--calibration-end", help="Last day fitted on, YYYY-MM-DD (default: the file's last).")
        parser.add_argument("--time-unit", choices=["day", "week"], default="day")
        parser.add_argument("--horizon", type=int, default=12, help="Months of predicted value to report (1–120).")
        parser.add_argument("--monthly-discount", type=float, default=0.01, help="Discount rate a month (0–1).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["horizon"] <= 120:
            raise CommandError("--horizon must be a whole number of months from 1 to 120.")
        if not 0 <= options["monthly_discount"] < 1:
            raise CommandError("--monthly-discount must be at least 0 and below 1 (0.01 is 1 % a month).")
        transactions = read_transactions(options["transactions"])
        end = max(day for _, day, _ in transactions)
        if options["calibration_end"]:
            try:
                end = dt.date.fromisoformat(options["calibration_end"])
            except ValueError:
                raise CommandError("--calibration-end must be a date as YYYY-MM-DD.") from None
        unit = options["time_unit"]
        summaries = summarize(transactions, calibration_end=end, unit=unit)
        if not summaries.customer_ids:
            raise CommandError(f"No purchase on or before the calibration end {end}.")
        started = time.perf_counter()
        try:
            purchases = fit_bgnbd(compress(summaries.x, summaries.t_x, summaries.T))
            spend = fit_gamma_gamma(summaries.x, summaries.mean_value)
        except ModelNotUsable as refused:
            raise CommandError(f"The models cannot be fitted on this file: {refused}") from None
        seconds = time.perf_counter() - started
        value = predicted_value(
            purchases,
            spend,
            x=summaries.x,
            t_x=summaries.t_x,
            T=summaries.T,
            mean_value=summaries.mean_value,
            months=options["horizon"],
            monthly_discount=options["monthly_discount"],
            unit=unit,
        )
        result = {
            "customers": len(summaries.customer_ids),
            "repeat_customers": int((summaries.x > 0).sum()),
            "calibration_end": end.isoformat(),
            "time_unit": unit,
            "bgnbd": {"r": purchases.r, "alpha": purchases.alpha, "a": purchases.a, "b": purchases.b,
                      "loglik": purchases.loglik},
            "gamma_gamma": {"p": spend.p, "q": spend.q, "gamma": spend.gamma, "loglik": spend.loglik},
            "horizon_months": options["horizon"],
            "predicted_value_mean": float(value.mean()) if math.isfinite(float(value.mean())) else None,
            "fit_seconds": round(seconds, 3),
        }  # fmt: skip
        self.stdout.write(
            f"{result['customers']} customers, {result['repeat_customers']} with repeat purchases, fitted up to {end} "
            f"in {unit}s in {seconds:.2f} s."
        )
        self.stdout.write(json.dumps(result, separators=(",", ":")))
