"""A small progress bar for management commands: redraws in place on a terminal, prints milestones otherwise."""

from __future__ import annotations

import time

from django.core.management.base import OutputWrapper


class ProgressBar:
    """Writes to a management command's ``self.stdout``; ``ending=""`` keeps the redraw on one line."""

    def __init__(self, stream: OutputWrapper, total: int, label: str, width: int = 30) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._interactive = stream.isatty()
        self._last_decile = -1

    def advance(self, count: int = 1) -> None:
        self.done = min(self.done + count, self.total)
        if self._interactive:
            self.stream.write("\r" + self._line(), ending="")
            self.stream.flush()
            return
        decile = self.done * 10 // self.total
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._line())

    def finish(self) -> None:
        self.done = self.total
        if self._interactive:
            self.stream.write("\r" + self._line())
        elif self._last_decile != 10:
            self.stream.write(self._line())
        self.stream.flush()

    def _line(self) -> str:
        filled = self.width * self.done // self.total
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{self.label:<14} [{bar}] {self.done}/{self.total} {100 * self.done // self.total:3d}% {elapsed:5.1f}s"
