"""A loopback stand-in for Google's Data Manager API (REST), with Google's Customer Match rules.

Point the official client at it with ``client_options={"api_endpoint": fake.url}`` (platform-apis §B3). It serves:

* ``POST /v1/accountTypes/GOOGLE_ADS/accounts/<id>/userLists``: creates a list (a display name and contact-id
  ingestion info required; a membership over 540 days, or not in whole days, is refused);
* ``GET /v1/accountTypes/GOOGLE_ADS/accounts/<id>/userLists``: the account's lists;
* ``POST /v1/audienceMembers:ingest`` and ``:remove``: at most 10,000 members and 10 identifiers a member; hashed
  values must be 64 hex characters (``encoding`` HEX); an ingest must accept the Customer Match terms and give every
  member its consent (``adUserData`` and ``adPersonalization``), else the whole request is refused (Google fails a
  request as a whole). Each answers a ``requestId``;
* ``GET /v1/requestStatus:retrieve?requestId=…``: what became of it;
* ``POST /v1/events:ingest``: conversions for one conversion action, at most 2,000, each with a timestamp, a
  transaction id and consent; kept once per transaction id.

Every call must carry the bearer token the fake was given (else 401 ``UNAUTHENTICATED``, as for an expired token);
an account in ``forbidden_accounts`` answers 403 ``PERMISSION_DENIED``. A list's members are kept as the tuple of each
member's identifiers, so a test can compare the fake's list with what Ladder computed; a removal takes out every
member sharing an identifier with a removed one.

Scripting: ``fail_next`` makes the next calls fail with an HTTP status, a gRPC status name, a reason and optionally a
``RetryInfo`` delay; ``settle_next`` decides what becomes of the next ingest or removal (applied, failed with error
counts by reason — and then not applied — or still processing until ``settle``).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.standalone import Loopback, QuietHandler, serve

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10
MAX_EVENTS = 2_000
HASHED = {"emailAddress": "email_address", "phoneNumber": "phone_number"}
ADDRESS = {
    "givenName": "given_name",
    "familyName": "family_name",
    "regionCode": "region_code",
    "postalCode": "postal_code",
}
STATUS = {"SUCCESS": 1, "PROCESSING": 2, "FAILED": 3, "PARTIAL_SUCCESS": 4}
GRANTED, DENIED = 1, 2
ACCEPTED = 1
LIST_PATH = re.compile(r"^/v1/accountTypes/GOOGLE_ADS/accounts/(\d{10})/userLists$")

Member = tuple[tuple[str, str], ...]


class GoogleDataManagerFake(Loopback):
    def __init__(self, *, access_token: str, port: int = 0) -> None:
        self.access_token = access_token
        self.lists: dict[str, dict[str, Any]] = {}  # list id → the list as created
        self.members: dict[str, set[Member]] = {}
        self.requests: list[dict[str, Any]] = []  # every call: method, path, member count
        self.forbidden_accounts: set[str] = set()
        self.statuses: dict[str, dict[str, Any]] = {}  # request id → its outcome
        self.conversions: dict[str, dict[str, dict[str, Any]]] = {}  # conversion action → transaction id → event
        self._failures: list[dict[str, Any]] = []
        self._outcomes: list[dict[str, Any]] = []
        self._pending: dict[str, tuple[str, str, list[Member]]] = {}
        self._next_id = 9_100_000_000
        self._lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer("POST", self.rfile.read(length) if length else b"")

            def do_GET(self) -> None:
                self._answer("GET", b"")

            def _answer(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                with fake._lock:
                    status, payload = fake.handle(method, parts.path, query, body, token=token)
                self.reply_json(status, payload)

        self._serve(Handler, port)

    # --- scripting -------------------------------------------------------------------------------------

    def fail_next(
        self,
        *,
        http: int = 503,
        status: str = "UNAVAILABLE",
        reason: str = "",
        message: str = "The service is currently unavailable.",
        retry_delay: float | None = None,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self._failures.append(
                {"http": http, "status": status, "reason": reason, "message": message, "retry_delay": retry_delay}
            )

    def settle_next(self, status: str = "SUCCESS", *, reasons: dict[str, int] | None = None, times: int = 1) -> None:
        """What becomes of the next ingest or removal: SUCCESS, PARTIAL_SUCCESS or FAILED (with error counts), or
        PROCESSING (applied when ``settle`` is called)."""
        for _ in range(times):
            self._outcomes.append({"status": status, "reasons": reasons or {}})

    def settle(self) -> None:
        """Apply every request left processing."""
        with self._lock:
            for request_id, (kind, list_id, members) in list(self._pending.items()):
                self._apply(kind, list_id, members)
                self.statuses[request_id]["status"] = "SUCCESS"
                del self._pending[request_id]

    # --- the API -------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes, *, token: str) -> tuple[int, Any]:
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The body is not JSON.")
        self.requests.append(
            {"method": method, "path": path, "members": len(document.get("audienceMembers", []) or [])}
        )
        if token != self.access_token:
            return _error(401, "UNAUTHENTICATED", "", "Request had invalid authentication credentials.")
        if self._failures:
            failure = self._failures.pop(0)
            return _error(
                failure["http"],
                failure["status"],
                failure["reason"],
                failure["message"],
                retry_delay=failure["retry_delay"],
            )
        if match := LIST_PATH.match(path):
            account = match.group(1)
            if account in self.forbidden_accounts:
                return _error(403, "PERMISSION_DENIED", "PERMISSION_DENIED", "The caller does not have permission.")
            return self._list_create(account, document) if method == "POST" else self._lists(account)
        if method == "POST" and path in ("/v1/audienceMembers:ingest", "/v1/audienceMembers:remove"):
            return self._members(path.endswith(":ingest"), document)
        if method == "POST" and path == "/v1/events:ingest":
            return self._events(document)
        if method == "GET" and path == "/v1/requestStatus:retrieve":
            return self._status(query.get("requestId", ""))
        return _error(404, "NOT_FOUND", "NOT_FOUND", f"No such method: {method} {path}.")

    def _list_create(self, account: str, document: dict[str, Any]) -> tuple[int, Any]:
        if not document.get("displayName"):
            return _error(400, "INVALID_ARGUMENT", "REQUIRED_FIELD_MISSING", "user_list.display_name is required.")
        info = document.get("ingestedUserListInfo") or {}
        if 1 not in (info.get("uploadKeyTypes") or []) or not info.get("contactIdInfo"):
            return _error(400, "INVALID_ARGUMENT", "INVALID_USER_LIST_TYPE", "A contact-id list needs contactIdInfo.")
        duration = document.get("membershipDuration", "0s")
        seconds = int(float(duration.removesuffix("s") or 0))
        if seconds % 86_400 or seconds > 540 * 86_400:
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "membership_duration: whole days, at most 540.")
        self._next_id += 1
        list_id = str(self._next_id)
        name = f"accountTypes/GOOGLE_ADS/accounts/{account}/userLists/{list_id}"
        self.lists[list_id] = {**document, "name": name, "id": list_id, "account": account}
        self.members[list_id] = set()
        return 200, {**document, "name": name, "id": list_id}

    def _lists(self, account: str) -> tuple[int, Any]:
        owned = [{"name": lst["name"], "id": lst["id"]} for lst in self.lists.values() if lst["account"] == account]
        return 200, {"userLists": owned[:1]}

    def _members(self, ingest: bool, document: dict[str, Any]) -> tuple[int, Any]:
        destinations = document.get("destinations") or []
        if len(destinations) != 1:
            return _error(400, "INVALID_ARGUMENT", "TOO_MANY_DESTINATIONS", "This stand-in takes one destination.")
        destination = destinations[0]
        account = (destination.get("operatingAccount") or {}).get("accountId", "")
        if account in self.forbidden_accounts:
            return _error(403, "PERMISSION_DENIED", "PERMISSION_DENIED", "The caller does not have permission.")
        list_id = destination.get("productDestinationId", "")
        if self.lists.get(list_id, {}).get("account") != account:
            return _error(400, "INVALID_ARGUMENT", "INVALID_USER_LIST_ID", "The user list is not in this account.")
        members = document.get("audienceMembers") or []
        if not members:
            return _error(400, "INVALID_ARGUMENT", "REQUIRED_FIELD_MISSING", "audience_members is required.")
        if len(members) > MAX_MEMBERS:
            return _error(400, "INVALID_ARGUMENT", "TOO_MANY_AUDIENCE_MEMBERS", f"At most {MAX_MEMBERS} members.")
        if document.get("encoding") != 1:
            return _error(400, "INVALID_ARGUMENT", "REQUIRED_FIELD_MISSING", "encoding is required for hashed data.")
        if ingest and (document.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus") != ACCEPTED:
            return _error(
                400, "INVALID_ARGUMENT", "TERMS_AND_CONDITIONS_NOT_SIGNED", "Customer Match terms are not accepted."
            )
        parsed: list[Member] = []
        for index, member in enumerate(members):
            if ingest and not _consented(member.get("consent") or document.get("consent") or {}):
                return _error(
                    400,
                    "INVALID_ARGUMENT",
                    "REQUIRED_FIELD_MISSING",
                    f"audience_members[{index}].consent: ad_user_data and ad_personalization are required.",
                )
            identifiers, problem = _identifiers(member)
            if problem:
                return _error(400, "INVALID_ARGUMENT", problem, f"audience_members[{index}]: {problem}.")
            parsed.append(identifiers)
        self._next_id += 1
        request_id = f"req-{self._next_id}"
        outcome = self._outcomes.pop(0) if self._outcomes else {"status": "SUCCESS", "reasons": {}}
        kind = "ingest" if ingest else "remove"
        if outcome["status"] in ("SUCCESS", "PARTIAL_SUCCESS"):
            failed = sum(outcome["reasons"].values())
            self._apply(kind, list_id, parsed[: len(parsed) - failed])
        elif outcome["status"] == "PROCESSING":
            self._pending[request_id] = (kind, list_id, parsed)
        self.statuses[request_id] = {**outcome, "kind": kind, "records": len(parsed), "destination": destination}
        return 200, {"requestId": request_id}

    def _events(self, document: dict[str, Any]) -> tuple[int, Any]:
        """Conversions for a conversion action: at most 2,000, each with a timestamp and consent; kept once per
        transaction id (Google deduplicates by it)."""
        destinations = document.get("destinations") or []
        if len(destinations) != 1 or not str(destinations[0].get("productDestinationId", "")).isdigit():
            return _error(400, "INVALID_ARGUMENT", "INVALID_DESTINATION", "One conversion action is required.")
        account = (destinations[0].get("operatingAccount") or {}).get("accountId", "")
        if account in self.forbidden_accounts:
            return _error(403, "PERMISSION_DENIED", "PERMISSION_DENIED", "The caller does not have permission.")
        events = document.get("events") or []
        if not 1 <= len(events) <= MAX_EVENTS:
            return _error(400, "INVALID_ARGUMENT", "TOO_MANY_EVENTS", f"Between 1 and {MAX_EVENTS} events.")
        for index, event in enumerate(events):
            if not event.get("eventTimestamp") or not event.get("transactionId"):
                return _error(
                    400, "INVALID_ARGUMENT", "REQUIRED_FIELD_MISSING", f"events[{index}]: timestamp and transaction id."
                )
            if not _consented(event.get("consent") or document.get("consent") or {}):
                return _error(
                    400, "INVALID_ARGUMENT", "REQUIRED_FIELD_MISSING", f"events[{index}].consent is required."
                )
            if event.get("userData"):
                _, problem = _identifiers({"userData": event["userData"]})
                if problem:
                    return _error(400, "INVALID_ARGUMENT", problem, f"events[{index}]: {problem}.")
        action = self.conversions.setdefault(destinations[0]["productDestinationId"], {})
        for event in events:
            action.setdefault(event["transactionId"], event)
        self._next_id += 1
        return 200, {"requestId": f"req-{self._next_id}"}

    def _apply(self, kind: str, list_id: str, members: list[Member]) -> None:
        held = self.members[list_id]
        if kind == "ingest":
            held.update(members)
            return
        leaving = {pair for member in members for pair in member}
        self.members[list_id] = {member for member in held if not leaving & set(member)}

    def _status(self, request_id: str) -> tuple[int, Any]:
        outcome = self.statuses.get(request_id)
        if outcome is None:
            return _error(404, "NOT_FOUND", "NOT_FOUND", "No request with this id.")
        per: dict[str, Any] = {"destination": outcome["destination"], "requestStatus": STATUS[outcome["status"]]}
        counts = {"recordCount": str(outcome["records"])}
        if outcome["kind"] == "ingest":
            per["audienceMembersIngestionStatus"] = {"userDataIngestionStatus": {**counts, "uploadMatchRateRange": 9}}
        else:
            per["audienceMembersRemovalStatus"] = {"userDataRemovalStatus": counts}
        if outcome["reasons"]:
            per["errorInfo"] = {
                "errorCounts": [
                    {"recordCount": str(count), "reason": f"PROCESSING_ERROR_REASON_{reason}"}
                    for reason, count in outcome["reasons"].items()
                ]
            }
        return 200, {"requestStatusPerDestination": [per]}


def _consented(consent: dict[str, Any]) -> bool:
    return consent.get("adUserData") in (GRANTED, DENIED) and consent.get("adPersonalization") in (GRANTED, DENIED)


def _identifiers(member: dict[str, Any]) -> tuple[Member, str]:
    found: list[tuple[str, str]] = []
    identifiers = (member.get("userData") or {}).get("userIdentifiers") or []
    if not identifiers:
        return (), "REQUIRED_FIELD_MISSING"
    if len(identifiers) > MAX_IDENTIFIERS:
        return (), "TOO_MANY_USER_IDENTIFIERS"
    for identifier in identifiers:
        for field, key in HASHED.items():
            if field in identifier:
                if not HEX64.match(identifier[field]):
                    return (), "INVALID_SHA256_FORMAT"
                found.append((key, identifier[field]))
        if address := identifier.get("address"):
            if not all(address.get(field) for field in ADDRESS):
                return (), "REQUIRED_FIELD_MISSING"
            if not HEX64.match(address["givenName"]) or not HEX64.match(address["familyName"]):
                return (), "INVALID_SHA256_FORMAT"
            found.extend((key, address[field]) for field, key in ADDRESS.items())
    return tuple(sorted(found)), ""


def _error(http: int, status: str, reason: str, message: str, *, retry_delay: float | None = None) -> tuple[int, Any]:
    details: list[dict[str, Any]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "datamanager.googleapis.com",
            }
        )
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay:g}s"})
    return http, {"error": {"code": http, "message": message, "status": status, "details": details}}


def main() -> None:
    """Serve the fake on its own, to try a Google destination without Google (README: "Try a Google destination")."""
    serve(
        "A loopback stand-in for Google's Data Manager API",
        lambda token, port: GoogleDataManagerFake(access_token=token, port=port),
        port=8766,
        sizes=lambda fake: {name: len(members) for name, members in fake.members.items()},
    )


if __name__ == "__main__":
    main()
