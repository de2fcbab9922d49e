"""Request parsing that answers bad input with a 400, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # far deeper than any request Ladder takes; the parser's recursion is never the limit


def json_depth_ok(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``data`` nests no deeper than ``limit`` (iterative: a deep value cannot exhaust the stack here)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return False
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return True


_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def holds_unstorable(value: Any) -> bool:
    """Whether any text in ``value`` (keys included) has a NUL or a lone surrogate, which PostgreSQL cannot store."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` that raises ValueError, not RecursionError, for nesting beyond the parser's stack, and for
    nesting deeper than ``MAX_JSON_DEPTH``."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    if not json_depth_ok(data):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return data


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with deep nesting a 400 ("JSON parse error") instead of a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.") from None
        if not json_depth_ok(data):
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        return data
