from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.services import lead_erase
from leads.models import Lead


class Command(BaseCommand):
    help = "Erase a person (GDPR): removed from every audience and destination, data deleted, never captured again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="The person's e-mail address.")

    def handle(self, *args: Any, **options: Any) -> None:
        lead = Lead.objects.filter(email=options["email"].strip().lower()).first()
        if lead is None:
            raise CommandError("No lead has that e-mail address (check the spelling; erased people are not found).")
        destinations = lead_erase(lead=lead)
        self.stdout.write(f"Erased lead {lead.public_id}; removal queued for {len(destinations)} destination(s).")
