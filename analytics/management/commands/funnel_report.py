from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics import reports
from common.errors import ApplicationError
from common.money import format_money
from funnels.models import Funnel


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


class Command(BaseCommand):
    help = (
        "Print a funnel's report for [since, until): each step's visitors, conversions and money, and the totals. "
        "With --format json the last line is one JSON object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The funnel's slug, as in /f/<slug>/.")
        parser.add_argument("--since", required=True, help="First day, YYYY-MM-DD (in the server's TIME_ZONE).")
        parser.add_argument("--until", required=True, help="The day after the last, YYYY-MM-DD (not included).")
        parser.add_argument("--format", choices=["json", "table"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        funnel = Funnel.objects.filter(slug=options["slug"]).first()
        if funnel is None:
            known = ", ".join(Funnel.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No funnel with slug {options['slug']!r}; known slugs: {known}.")
        try:
            period = reports.period_parse(options["since"], options["until"])
        except ApplicationError as refused:
            raise CommandError(refused.message) from None
        report = reports.funnel_report(funnel=funnel, period=period)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), separators=(",", ":")))
            return
        money = lambda amount: format_money(amount, report.currency)  # noqa: E731
        self.stdout.write(f"{report.name} ({report.funnel}), {report.since} to {report.until} (not included)")
        header = (
            f"{'step':<20}{'kind':<12}{'visitors':>10}{'conv.':>8}{'rate':>9}{'orders':>8}"
            f"{'gross':>14}{'refunds':>14}{'net':>14}"
        )
        self.stdout.write(header)
        for step in report.steps:
            self.stdout.write(
                f"{step.step[:19]:<20}{step.kind:<12}{step.visitors:>10}{step.conversions:>8}{_percent(step.rate):>9}"
                f"{step.orders:>8}{money(step.gross_minor):>14}{money(step.refunds_minor):>14}{money(step.net_minor):>14}"
            )
        totals = report.totals
        self.stdout.write(
            f"Entries {totals.entries}, orders {totals.orders}, gross {money(totals.gross_minor)}, refunds "
            f"{money(totals.refunds_minor)}, net {money(totals.net_minor)}, EPC "
            f"{money(totals.epc_minor) if totals.epc_minor is not None else '—'}, "
            f"refund rate {_percent(totals.refund_rate)}"
        )
