from __future__ import annotations

import signal
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leads import inbox


class Command(BaseCommand):
    help = "Write events waiting in the inbox to the event log (EVENT_INBOX=true)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--follow", action="store_true", help="Keep flushing every --interval seconds.")
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: Any, **options: Any) -> None:
        if not inbox.inbox_enabled():
            raise CommandError("The event inbox is off: set EVENT_INBOX=true and REDIS_URL to use it.")
        # A stop request ends the flush as an exception would: the batch in hand is rolled back and left in the inbox,
        # and the lock is released at once instead of blocking the next flusher until it expires.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        total = 0
        while True:
            total += inbox.events_inbox_flush()
            if not options["follow"]:
                break
            time.sleep(options["interval"])
        self.stdout.write(f"{total} events written; {inbox.inbox_size()} waiting.")
