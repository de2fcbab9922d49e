from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leads import conversions
from leads.models import ConversionDestination


class Command(BaseCommand):
    help = "Report waiting server-side conversions now (Celery beat does it every ten seconds) and say what happened."

    def handle(self, *args: Any, **options: Any) -> None:
        queued = 0
        while taken := conversions.conversions_fan_out():
            queued += taken
        self.stdout.write(f"{queued} conversion(s) taken from the outbox")
        destinations = list(ConversionDestination.objects.filter(is_active=True))
        if not destinations:
            self.stdout.write(
                "No active conversion destination: add one in the admin (Leads → Conversion destinations)."
            )
        for destination in destinations:
            done = conversions.conversions_send(destination=destination)
            destination.refresh_from_db()
            paused = "" if destination.is_active else " (paused: see its deliveries for why)"
            self.stdout.write(
                f"{destination}: {done.sent} sent, {done.dropped} dropped, {done.failed} failed, "
                f"{done.waiting} waiting{paused}"
            )
