from __future__ import annotations

import signal
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnels.capture import flush
from leads import inbox


class Command(BaseCommand):
    help = "Write the beacons and opt-ins waiting in the capture inbox to the database (EVENT_INBOX=true)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--follow", action="store_true", help="Keep flushing every --interval seconds.")
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: Any, **options: Any) -> None:
        if not inbox.inbox_enabled():
            raise CommandError("The event inbox is off: set EVENT_INBOX=true and REDIS_URL to use it.")
        # A stop request ends the flush as an exception would: the batch in hand is rolled back and left in the inbox,
        # and the lock is released at once instead of blocking the next flusher until it expires.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        events = optins = 0
        while True:
            written = flush.capture_inbox_flush()
            events, optins = events + written[0], optins + written[1]
            if not options["follow"]:
                break
            time.sleep(options["interval"])
        self.stdout.write(
            f"{events} events and {optins} opt-ins written; "
            f"{inbox.inbox_size()} events and {inbox.inbox_size(inbox.OPTIN_INBOX_KEY)} opt-ins waiting."
        )
