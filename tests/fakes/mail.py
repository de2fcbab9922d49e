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
