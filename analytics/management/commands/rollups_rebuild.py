from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics import services
from common.progress import ProgressBar
from leads.models import Event


class Command(BaseCommand):
    help = "Recompute every report rollup from the event log and the orders (the same result as keeping them up)."

    def handle(self, *args: Any, **options: Any) -> None:
        bar = ProgressBar(self.stdout, Event.objects.count(), "events folded")
        total = services.rollups_rebuild(progress=bar.advance)
        bar.finish()
        self.stdout.write(f"Rollups rebuilt from {total} events.")
