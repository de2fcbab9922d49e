"""A mail backend that behaves like a real server towards some addresses: ``refused@…`` is refused for good
(SMTP 550), ``busy@…`` fails for now (SMTP 451) while ``BUSY`` is true. Everything else lands in ``mail.outbox``."""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail.backends.locmem import EmailBackend

BUSY = {"on": True}


class PickyBackend(EmailBackend):
    def send_messages(self, messages: Any) -> int:
        for message in messages:
            for address in message.to:
                if address.startswith("refused@"):
                    raise smtplib.SMTPRecipientsRefused({address: (550, b"5.1.1 No such user")})
                if address.startswith("busy@") and BUSY["on"]:
                    raise smtplib.SMTPRecipientsRefused({address: (451, b"4.7.1 Try again later")})
        return super().send_messages(messages)


class SlowFileBackend(EmailBackend):
    """For a worker in its own process: each message is announced in ``LADDER_TEST_MAIL_DIR`` (``<n>.sending``),
    held ``LADDER_TEST_MAIL_DELAY`` seconds as a slow mail server would, then delivered (``<n>.sent``)."""

    def send_messages(self, messages: Any) -> int:
        import os
        import time
        import uuid
        from pathlib import Path

        folder = Path(os.environ["LADDER_TEST_MAIL_DIR"])
        for message in messages:
            name = uuid.uuid4().hex
            (folder / f"{name}.sending").write_text(",".join(message.to))
            time.sleep(float(os.environ.get("LADDER_TEST_MAIL_DELAY", "0")))
            (folder / f"{name}.sent").write_text(",".join(message.to))
        return len(messages)
