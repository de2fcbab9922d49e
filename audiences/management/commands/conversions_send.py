from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audiences import conversions
from audiences.models import ConversionDestination


class Command(BaseCommand):
    help = "Report waiting server-side conversions now (Celery beat does it every ten seconds) and say what happened."

    def handle(self, *args: Any, **options: Any) -> None:
        queued = 0
        while taken := conversions.conversions_fan_out():
            queued += taken
        self.stdout.write(f"{queued} conversion(s) taken from the outbox")
        destinations = list(ConversionDestination.objects.filter(is_active=True).select_related("connection"))
        if not destinations:
            self.stdout.write(
                "No active conversion destination: add one in the admin (Audiences → Conversion destinations)."
            )
        for destination in destinations:
            if held := destination.connection.held_because():
                self.stdout.write(f"{destination}: not sent. {held}")
                continue
            done = conversions.conversions_send(destination=destination)
            destination.connection.refresh_from_db()
            reason = destination.connection.paused_reason
            paused = f" (its connection is paused: {reason})" if reason else ""
            self.stdout.write(
                f"{destination}: {done.sent} sent, {done.dropped} dropped, {done.failed} failed, "
                f"{done.waiting} waiting{paused}"
            )
