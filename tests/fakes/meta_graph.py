"""A loopback stand-in for the Graph API's customer-file Custom Audience endpoints, with Meta's rules.

Point the official SDK at it with ``FacebookSession.GRAPH`` (platform-apis §A6). It serves:

* ``GET /<version>/act_<account>``: the account's id and name, or code 200 for one in ``forbidden_accounts``;
* ``POST /<version>/act_<account>/customaudiences``: creates an audience (``subtype=CUSTOM`` and a
  ``customer_file_source`` required); ``is_value_based`` makes it a customer-value audience, whose adds must carry
  ``LOOKALIKE_VALUE`` (a non-negative number, kept in ``values``) and which no other audience accepts;
* ``POST /<version>/<audience>/usersreplace``: the first batch of a session drops every member, then each batch adds;
* ``POST /<version>/<pixel>/events``: the Conversions API. At most 1,000 events; each needs ``event_name``,
  ``event_time``, ``action_source`` and ``user_data`` (a website event its ``client_user_agent``), its identifiers
  SHA-256 hex; one event older than seven days refuses the whole request. Kept per pixel by name and ``event_id``,
  so a resent event is counted once;
* ``POST`` and ``DELETE /<version>/<audience>/users``: adds and removes members. ``payload`` is JSON with a list
  ``schema`` of Meta's multi-key names and ``data`` rows in schema order; the access token must be the one the fake
  was given (else 190, as for an expired token). More than 10,000 rows is refused (code 100), a row whose length does
  not match the schema too; a value that is not 64 lowercase hex characters (or empty) makes its row an invalid entry,
  counted in ``num_invalid_entries`` and not added. A POST must carry a ``session``. A request line over 64 KiB (a
  DELETE carries its rows in the URL) is answered 414 with an HTML page, as front ends do.

Members are kept per audience as the tuple of a row's non-empty hashes, so a test can compare the fake's audience
with what Ladder computed. ``fail_next`` scripts the next answers: a Graph error (code, subcode, transient flag,
HTTP status, and optionally the ``X-Business-Use-Case-Usage`` header).
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.standalone import Loopback, QuietHandler, serve

HASH = re.compile(r"^[0-9a-f]{64}$")
KEYS = {
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "LN",
    "FN",
    "FI",
    "CT",
    "ST",
    "ZIP",
    "MADID",
    "COUNTRY",
}
VALUE = "LOOKALIKE_VALUE"
MAX_ROWS = 10_000
MAX_EVENTS = 1_000  # Conversions API events a request


class MetaGraphFake(Loopback):
    def __init__(self, *, access_token: str, port: int = 0) -> None:
        self.access_token = access_token
        self.audiences: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        self.values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}  # value-based audiences' members
        self.requests: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.forbidden_accounts: set[str] = set()  # ``act_<n>`` the token may not reach (code 200)
        self.replacing: dict[str, Any] = {}  # audience → the replace session under way
        self.events: dict[str, dict[tuple[str, Any], dict[str, Any]]] = {}  # pixel → (name, event_id) → event
        self.test_event_codes: list[str] = []
        self.answer_delay = 0.0  # seconds each users (or events) request is answered after it was applied
        # Insights: per ad account its campaign-day rows (Meta's shape), its currency and time zone; report runs
        # answer "running" for ``report_polls`` polls, then completed.
        self.spend: dict[str, list[dict[str, Any]]] = {}
        self.account_currency: dict[str, str] = {}
        self.report_polls = 2
        self.report_fails = 0  # the next this many report runs end "Job Failed"
        self.runs: dict[str, dict[str, Any]] = {}
        self._next_id = 23850000000000
        self._lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                self._answer("POST", form)

            def do_DELETE(self) -> None:
                self._answer("DELETE", {})

            def do_GET(self) -> None:
                self._answer("GET", {})

            def _answer(self, method: str, form: dict[str, list[str]]) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in {**parse_qs(parts.query), **form}.items()}
                status, body, headers = fake.handle(method, parts.path, params, url_length=len(self.path))
                if fake.answer_delay and parts.path.endswith(("/users", "/events")):
                    time.sleep(fake.answer_delay)  # applied, then answered late: a worker can die in between
                self.reply_json(status, body, headers)

        self._serve(Handler, port)

    def fail_next(
        self,
        code: int,
        *,
        subcode: int | None = None,
        transient: bool = False,
        status: int = 400,
        message: str = "Injected",
        usage: dict[str, Any] | None = None,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self.failures.append(
                {
                    "code": code,
                    "subcode": subcode,
                    "transient": transient,
                    "status": status,
                    "message": message,
                    "usage": usage,
                }
            )

    # --- the Graph API's answers --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, str], *, url_length: int) -> tuple[int, Any, dict]:
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "params": params, "url_length": url_length, "at": time.time()}
            )
            if params.get("access_token") != self.access_token:
                return _error(190, "Error validating access token: Session has expired.", status=400, subcode=463)
            if self.failures:
                failure = self.failures.pop(0)
                headers = {"X-Business-Use-Case-Usage": json.dumps(failure["usage"])} if failure["usage"] else {}
                status, body, _ = _error(
                    failure["code"],
                    failure["message"],
                    status=failure["status"],
                    subcode=failure["subcode"],
                    transient=failure["transient"],
                )
                return status, body, headers
            segments = [s for s in path.split("/") if s]
            if len(segments) >= 2 and (segments[1] in self.runs or segments[-1] == "insights"):
                return self._insights(method, segments, params)
            if method == "GET" and len(segments) == 2 and segments[1].startswith("act_"):
                if segments[1] in self.forbidden_accounts:
                    return _error(200, "Permissions error: the user does not have access to this ad account", subcode=1)
                return (
                    200,
                    {
                        "id": segments[1],
                        "name": f"Ads of {segments[1]}",
                        "currency": self.account_currency.get(segments[1], "USD"),
                        "timezone_name": "America/New_York",
                    },
                    {},
                )
            if len(segments) == 3 and segments[1].startswith("act_") and segments[2] == "customaudiences":
                return self._create(params) if method == "POST" else _error(100, "Unsupported request")
            if len(segments) == 3 and segments[2] == "users" and segments[1] in self.audiences:
                return self._users(method, segments[1], params)
            if len(segments) == 3 and segments[2] == "usersreplace" and segments[1] in self.audiences:
                return self._users("REPLACE", segments[1], params) if method == "POST" else _error(100, "Unsupported")
            if method == "POST" and len(segments) == 3 and segments[2] == "events" and segments[1].isdigit():
                return self._events(segments[1], params)
            return _error(100, f"Unsupported {method} request: object does not exist")

    def _events(self, pixel_id: str, params: dict[str, str]) -> tuple[int, Any, dict]:
        """The Conversions API: every event valid or the whole request refused, as Meta does."""
        try:
            events = [json.loads(e) if isinstance(e, str) else e for e in json.loads(params["data"])]
        except (KeyError, ValueError, TypeError):
            return _error(100, "Invalid parameter: data must be a JSON array of events")
        if not 1 <= len(events) <= MAX_EVENTS:
            return _error(100, f"Invalid parameter: between 1 and {MAX_EVENTS} events a request")
        now = time.time()
        for index, event in enumerate(events):
            missing = [k for k in ("event_name", "event_time", "action_source", "user_data") if not event.get(k)]
            if missing:
                return _error(100, f"Invalid parameter: event {index} lacks {', '.join(missing)}", subcode=2804008)
            if now - int(event["event_time"]) > 7 * 86_400:
                return _error(100, "Invalid parameter: event_time is more than 7 days in the past", subcode=2804003)
            user = event["user_data"]
            if event["action_source"] == "website" and not user.get("client_user_agent"):
                return _error(100, "Invalid parameter: website events need client_user_agent", subcode=2804050)
            for key in ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id"):
                values = user.get(key) or []
                if any(not HASH.match(v) for v in (values if isinstance(values, list) else [values])):
                    return _error(100, f"Invalid parameter: user_data.{key} must be SHA-256 hex", subcode=2804019)
        received = self.events.setdefault(pixel_id, {})
        for event in events:  # deduplicated by event_name and event_id, as Meta does with the pixel's events
            received.setdefault((event["event_name"], event.get("event_id") or id(event)), event)
        self.test_event_codes.append(params.get("test_event_code", ""))
        return 200, {"events_received": len(events), "messages": [], "fbtrace_id": f"Afake{len(self.requests)}"}, {}

    def _insights(self, method: str, segments: list[str], params: dict[str, str]) -> tuple[int, Any, dict]:
        """Async insights: POST /act_<n>/insights starts a report run; GET /<run> tells its status; GET
        /<run>/insights pages its rows (``limit``, ``after``), Meta's cursor shape."""
        node = segments[1]
        if method == "POST" and node.startswith("act_"):
            if params.get("level") != "campaign" or str(params.get("time_increment")) != "1":
                return _error(100, "Invalid parameter: this stand-in serves level=campaign, time_increment=1")
            try:
                window = json.loads(params["time_range"])
                since, until = window["since"], window["until"]
            except (KeyError, ValueError, TypeError):
                return _error(100, "Invalid parameter: time_range must be {since, until}")
            self._next_id += 1
            run_id = str(self._next_id)
            failed = self.report_fails > 0
            self.report_fails -= failed
            self.runs[run_id] = {"account": node, "since": since, "until": until, "polls": 0, "failed": failed}
            return 200, {"report_run_id": run_id}, {}
        found = self.runs.get(node)
        if found is None or method != "GET":
            return _error(100, f"Unsupported {method} request: object does not exist")
        run: dict[str, Any] = found
        if len(segments) == 2:
            run["polls"] += 1
            if run["failed"]:
                status, percent = "Job Failed", 0
            elif run["polls"] > self.report_polls:
                status, percent = "Job Completed", 100
            else:
                status, percent = "Job Running", 50
            return 200, {"id": node, "async_status": status, "async_percent_completion": percent}, {}
        if run["polls"] <= self.report_polls or run["failed"]:
            return _error(2601, "Report not ready: poll the run until it is completed")
        rows = [r for r in self.spend.get(run["account"], []) if run["since"] <= r["date_start"] <= run["until"]]
        limit = min(int(params.get("limit") or 25), 500)
        start = int(params.get("after") or 0)
        page = rows[start : start + limit]
        body: dict[str, Any] = {
            "data": page,
            "paging": {"cursors": {"before": str(start), "after": str(start + limit)}},
        }
        if start + limit < len(rows):
            body["paging"]["next"] = f"{self.url}/v26.0/{node}/insights?after={start + limit}&limit={limit}"
        return 200, body, {}

    def _create(self, params: dict[str, str]) -> tuple[int, Any, dict]:
        if params.get("subtype") != "CUSTOM" or not params.get("customer_file_source"):
            return _error(100, "Invalid parameter: subtype CUSTOM and customer_file_source are required")
        self._next_id += 1
        audience_id = str(self._next_id)
        value_based = str(params.get("is_value_based", "")).lower() in ("true", "1")
        self.audiences[audience_id] = {
            "name": params.get("name", ""),
            "source": params["customer_file_source"],
            "value_based": value_based,
        }
        self.members[audience_id] = set()
        self.values[audience_id] = {}
        return 200, {"id": audience_id}, {}

    def _users(self, method: str, audience_id: str, params: dict[str, str]) -> tuple[int, Any, dict]:
        try:
            payload = json.loads(params["payload"])
            schema, data = payload["schema"], payload["data"]
        except (KeyError, ValueError, TypeError):
            return _error(100, "Invalid parameter: payload")
        if not isinstance(schema, list) or not set(schema) <= KEYS | {VALUE} or len(set(schema)) != len(schema):
            return _error(100, "Invalid parameter: schema")
        value_based = self.audiences[audience_id]["value_based"]
        if VALUE in schema and not value_based:
            return _error(100, "Invalid parameter: LOOKALIKE_VALUE is only accepted by value-based audiences")
        if value_based and method in ("POST", "REPLACE") and VALUE not in schema:
            return _error(100, "Invalid parameter: a value-based audience's schema must include LOOKALIKE_VALUE")
        value_at = schema.index(VALUE) if VALUE in schema else None
        if len(data) > MAX_ROWS:
            return _error(100, f"Invalid parameter: at most {MAX_ROWS} users per request")
        if method in ("POST", "REPLACE") and "session" not in params:
            return _error(100, "Invalid parameter: session is required for this upload")
        invalid = 0
        rows: list[tuple[tuple[str, str], ...]] = []
        values: list[float] = []
        for row in data:
            if not isinstance(row, list) or len(row) != len(schema):
                return _error(100, "Invalid parameter: each row must match the schema")
            value = row.pop(value_at) if value_at is not None else None
            keys = [key for key in schema if key != VALUE]
            bad_value = value_at is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            )
            if bad_value or not any(row) or any(not isinstance(v, str) or (v and not HASH.match(v)) for v in row):
                invalid += 1
                continue
            rows.append(tuple((key, v) for key, v in zip(keys, row, strict=True) if v))
            values.append(float(value or 0))
        held = self.members[audience_id]
        if value_at is not None and method in ("POST", "REPLACE"):
            starting = json.loads(params["session"]).get("session_id") != self.replacing.get(audience_id)
            if method == "REPLACE" and starting:
                self.values[audience_id].clear()
            self.values[audience_id].update(zip(rows, values, strict=True))
        elif method == "DELETE":
            for member in rows:
                self.values[audience_id].pop(member, None)
        session = json.loads(params["session"]) if "session" in params else {}
        if method == "REPLACE":  # a replace session's first batch drops everyone the audience held
            if self.replacing.get(audience_id) != session.get("session_id"):
                self.replacing[audience_id] = session.get("session_id")
                held.clear()
            held.update(rows)
        elif method == "POST":
            held.update(rows)
        else:
            held.difference_update(rows)
        return (
            200,
            {
                "audience_id": audience_id,
                "session_id": session.get("session_id"),
                "num_received": len(data),
                "num_invalid_entries": invalid,
                "invalid_entry_samples": {},
            },
            {},
        )


def _error(
    code: int, message: str, *, status: int = 400, subcode: int | None = None, transient: bool = False
) -> tuple[int, Any, dict]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return status, {"error": error}, {}


def main() -> None:
    """Serve the fake on its own, for trying a Meta destination without Meta (README: "Try a Meta destination")."""
    serve(
        "A loopback stand-in for Meta's Custom Audience endpoints",
        lambda token, port: MetaGraphFake(access_token=token, port=port),
        port=8765,
        sizes=lambda fake: {name: len(members) for name, members in fake.members.items()},
    )


if __name__ == "__main__":
    main()
