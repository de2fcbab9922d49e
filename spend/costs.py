"""Costs no ad platform reports (influencers, newsletters, print, tools, agency fees), uploaded as CSV.

The file has a header row naming ``date, source, campaign, amount, currency`` and optionally ``description``, in any
order; amounts are in the currency's units (``250.00``). Every row is checked before anything is stored: a file with
any bad row stores nothing and says, row by row, what to fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from django.db import transaction

from common.errors import ApplicationError
from common.money import Money, UnknownCurrency, currency_exponent
from spend.models import OtherCost

REQUIRED = ("date", "source", "campaign", "amount", "currency")
MAX_BYTES = 1024 * 1024
MAX_ROWS = 10_000
MAX_PROBLEMS = 20


class CostsRefused(ApplicationError):
    """The file's problems, one line each (``row 3: amount …``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:MAX_PROBLEMS]), field="file")
        self.problems = problems


def costs_from_csv(data: bytes) -> list[OtherCost]:
    """The costs in ``data`` (UTF-8, a BOM allowed), unsaved; raises CostsRefused listing every bad row."""
    if len(data) > MAX_BYTES:
        raise CostsRefused([f"The file is larger than {MAX_BYTES // 1024} KB; split it."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CostsRefused(["The file is not UTF-8 text; save it as CSV UTF-8."]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise CostsRefused([f"The header row lacks {', '.join(missing)} (it needs {', '.join(REQUIRED)})."])
    reader.fieldnames = header
    costs, problems = [], []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise CostsRefused([f"At most {MAX_ROWS} rows a file; split it."])
        cost, wrong = _cost(row)
        problems += [f"row {number}: {message}" for message in wrong]
        if cost is not None:
            costs.append(cost)
    if problems:
        raise CostsRefused(problems)
    if not costs:
        raise CostsRefused(["The file has a header but no rows."])
    return costs


def _cost(row: dict[str, str | None]) -> tuple[OtherCost | None, list[str]]:
    value = {name: (row.get(name) or "").strip() for name in (*REQUIRED, "description")}
    wrong = []
    try:
        day = dt.date.fromisoformat(value["date"])
    except ValueError:
        wrong.append(f"date {value['date'][:20]!r} is not a day as YYYY-MM-DD")
    if not value["source"]:
        wrong.append("source is empty (as in utm_source, e.g. newsletter)")
    for name, limit in (("source", 200), ("campaign", 200), ("description", 300)):
        if len(value[name]) > limit:
            wrong.append(f"{name} is longer than {limit} characters")
    currency = value["currency"].upper()
    try:
        exponent = currency_exponent(currency)
    except UnknownCurrency:
        wrong.append(f"currency {value['currency'][:10]!r} is not an ISO 4217 code (e.g. USD)")
        exponent = None
    try:
        amount = Decimal(value["amount"].replace(",", ""))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        wrong.append(f"amount {value['amount'][:20]!r} is not a number of at least 0 (e.g. 250.00)")
        amount = None
    if amount is not None and exponent is not None and amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        wrong.append(f"amount {value['amount']} has more decimals than {currency} takes ({exponent})")
    if wrong or amount is None:
        return None, wrong
    return (
        OtherCost(
            day=day,
            source=value["source"],
            campaign=value["campaign"],
            amount_minor=Money.from_decimal(amount, currency).amount_minor,
            currency=currency,
            description=value["description"],
        ),
        [],
    )


@transaction.atomic
def costs_upload(data: bytes) -> int:
    """Store every cost in the file, or none; returns how many."""
    return len(OtherCost.objects.bulk_create(costs_from_csv(data), batch_size=2000))
