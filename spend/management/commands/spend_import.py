"""Import daily campaign spend from Meta or Google, with a progress bar: a first back-fill, or a re-read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from common.progress import ProgressBar
from integrations.errors import IntegrationError
from spend import services
from spend.models import AdAccount, SpendImport

MAX_DAYS = 3 * 366  # Meta keeps about 37 months of insights


class Command(BaseCommand):
    help = "Import daily campaign spend of the platform's active ad accounts for a range of days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--platform", required=True, choices=[p.value for p in AdAccount.Platform])
        parser.add_argument("--account", default="", help="Only this account id (default: every active one).")
        parser.add_argument("--since", required=True, help="First day, YYYY-MM-DD (the account's time zone).")
        parser.add_argument("--until", default="", help="Last day, included (default: today).")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _day(options["since"], "--since")
        until = _day(options["until"], "--until") or timezone.localdate()
        if since is None or until < since:
            raise CommandError("--since must be a day on or before --until (YYYY-MM-DD).")
        if (until - since).days >= MAX_DAYS:
            raise CommandError(f"Import at most {MAX_DAYS} days at a time; the platforms keep about 3 years.")
        accounts = AdAccount.objects.filter(platform=options["platform"], is_active=True)
        if options["account"]:
            accounts = accounts.filter(account_id=options["account"])
        if not accounts.exists():
            raise CommandError("No active ad account matches; add one in the admin (Ad spend → Ad accounts).")
        failed = 0
        for account in accounts:
            bar = ProgressBar(self.stdout, (until - since).days + 1, str(account))
            try:
                record = services.spend_import(account=account, since=since, until=until, progress=bar.advance)
            except IntegrationError as error:
                self.stderr.write(f"{account}: {error} (try again later)")
                failed += 1
                continue
            bar.finish()
            if record.status != SpendImport.Status.SUCCEEDED:
                self.stderr.write(f"{account}: {record.error}")
                failed += 1
            else:
                self.stdout.write(f"{account}: {record.rows} campaign days from {since} to {until}.")
        if failed:
            raise CommandError(f"{failed} account(s) could not be imported; see above.")


def _day(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name} must be a day as YYYY-MM-DD, not {value!r}.") from None
