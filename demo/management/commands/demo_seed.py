from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.progress import ProgressBar
from demo import seed as demo


class Command(BaseCommand):
    help = "Build the demo value ladder with about 2,000 leads and 90 days of history. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (never on a database with real people)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like production: the demo adds 2,000 made-up leads and known logins. "
                "Run it with DEBUG=true, or add --force if this database is for trying Ladder."
            )
        bar = ProgressBar(self.stdout, total=demo.PROGRESS_TOTAL, label="Seeding demo")

        def progress(count: int, phase: str) -> None:
            bar.advance(count)

        counts = demo.demo_seed(progress=progress)
        bar.finish()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {counts['leads']} leads, {counts['events']} events, {counts['orders']} orders, "
                f"{counts['refunds']} refunds."
            )
        )
        for username, password, role in demo.demo_users():
            self.stdout.write(f"  admin login ({role}): {username} / {password}")
