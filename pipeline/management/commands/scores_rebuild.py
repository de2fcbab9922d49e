from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from common.progress import ProgressBar
from pipeline import services


class Command(BaseCommand):
    help = "Recompute every rule's score entries from the whole event log (after a scoring rule changed)."

    def handle(self, *args: Any, **options: Any) -> None:
        bar = ProgressBar(self.stdout, services.rule_events_total(), "events scored")
        total = services.scores_rebuild(progress=lambda count, _: bar.advance(count))
        bar.finish()
        self.stdout.write(f"Scores rebuilt: {total} rule entries; a person's own entries were kept.")
