from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from common.progress import ProgressBar
from staff import demo


class Command(BaseCommand):
    help = "Build the demo value ladder with about 2,000 leads and 90 days of history. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
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
