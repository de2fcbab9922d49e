"""The second line of defence for secrets in logs: every log record, from any logger (Django, Celery, the client
libraries), has access tokens, ``appsecret_proof``, ``Authorization`` headers and bearer tokens masked in its message
and in its formatted traceback before any handler sees it.

The first line is that platform errors never carry them (``integrations.errors.unreachable``); this catches what a
library or a bug still lets through. Installed once per process by ``CommonConfig.ready`` as the log record factory.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

MASK = "[redacted]"
PATTERNS = (
    # access_token=…, appsecret_proof=…, client_secret=…, refresh_token=… in URLs, forms and reprs (quoted or not)
    re.compile(
        r"(?i)((?:access_token|appsecret_proof|client_secret|refresh_token|api_key|secret)[\"']?\s*[=:]\s*[\"']?)"
        r"[^\s&\"',;)}\]]+"
    ),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+)?[^\s\"',;)}\]]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(\b(?:sk|rk|whsec)_(?:live|test)?_?)[A-Za-z0-9]{8,}"),  # Stripe secret and webhook keys
    # Signed links in paths (Django logs the path of every 4xx): downloads, library sign-ins, lead magnets.
    re.compile(r"(/(?:library/get|library/sign-in|f/[\w-]+/download)/)[^/\s?\"']+"),
)


def scrub(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


_default_factory = logging.getLogRecordFactory()


def scrubbing_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _default_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a bad format string: leave it to the handler to report
        return record
    cleaned = scrub(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        # Handlers format the traceback from exc_text when it is set: set it, masked.
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install() -> None:
    """Make every log record pass through ``scrub`` (idempotent)."""
    if logging.getLogRecordFactory() is not scrubbing_record_factory:
        logging.setLogRecordFactory(scrubbing_record_factory)
