from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.models import Audience
from audiences.services import audience_refresh
from audiences.sync import SyncInProgress, destination_sync, leads_to_add, ledger_to_remove
from common.progress import ProgressBar


class Command(BaseCommand):
    help = "Rebuild an audience and sync it to each of its active destinations, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The audience's slug.")
        parser.add_argument("--dry-run", action="store_true", help="Count and preview; send nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        audience = Audience.objects.filter(slug=options["slug"]).first()
        if audience is None:
            known = ", ".join(Audience.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No audience with slug {options['slug']!r}; known slugs: {known}.")
        refreshed = audience_refresh(audience=audience)
        if refreshed is None:
            audience.refresh_from_db()
            raise CommandError(f"The audience's rule no longer holds: {audience.rule_error}")
        self.stdout.write(f"{audience}: {refreshed.size} members (+{refreshed.added}, −{refreshed.removed})")
        destinations = list(audience.destinations.filter(is_active=True).select_related("connection"))
        if not destinations:
            self.stdout.write("No active destinations: add one in the admin to send this audience anywhere.")
        failed = False
        for destination in destinations:
            held = destination.connection.held_because()
            if held and not options["dry_run"]:
                self.stdout.write(f"{destination.name}: not sent. {held}")
                failed = True
                continue
            total = leads_to_add(destination).count() + ledger_to_remove(destination).count()
            bar = ProgressBar(self.stdout, total, f"{destination.name}")
            try:
                run = destination_sync(destination=destination, dry_run=options["dry_run"], progress=bar.advance)
            except SyncInProgress as busy:
                bar.finish()
                self.stdout.write(f"{destination.name}: {busy.message}")
                failed = True
                continue
            bar.finish()
            self.stdout.write(
                f"{destination.name}: {run.get_status_display()} — {run.to_add} to add, {run.to_remove} to remove, "
                f"{run.sent} sent, {run.accepted} accepted, {run.invalid} invalid"
                + (f"; {run.error}" if run.error else "")
            )
            failed = failed or run.status == run.Status.FAILED
        if failed:
            raise CommandError("At least one destination failed; see the reasons above and its sync runs in the admin.")
