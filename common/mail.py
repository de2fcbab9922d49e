"""What a mail server's refusal means for a message: sent never (and why), or worth another try."""

from __future__ import annotations

import smtplib


def permanent_refusal(error: Exception) -> str | None:
    """Why a send failed for good (the address is refused, the message cannot be built), or None when it may pass on
    a retry (a server down, busy or answering 4xx). Never the address itself."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        if codes and all(code >= 500 for code in codes):
            return f"the mail server refused the address (SMTP {', '.join(map(str, codes))})"
        return None
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500:
        return f"the mail server refused the message (SMTP {error.smtp_code})"
    if isinstance(error, UnicodeError | ValueError):
        return f"the message could not be built for this address ({type(error).__name__})"
    return None
