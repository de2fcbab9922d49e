"""Running a loopback stand-in on its own, for trying Ladder without the platform (README)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any


def serve(description: str, make: Callable[[str, int], Any], *, port: int, sizes: Callable[[Any], dict]) -> None:
    """Parse ``--port`` and ``--token``, start ``make(token, port)``, and print its audiences' sizes each minute
    until Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--token", default="demo-token", help="The access token it accepts.")
    args = parser.parse_args()
    fake = make(args.token, args.port)
    sys.stdout.write(f"{description} on {fake.url}, accepting the token {args.token!r}. Ctrl-C stops it.\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(60)
            sys.stdout.write(f"audiences and their sizes: {sizes(fake)}\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        fake.stop()
