"""Meta Custom Audiences (customer file) through the official ``facebook-business`` SDK.

Rows arrive already normalized and hashed by ``integrations.identifiers`` (Meta's multi-key schema), so the SDK is
called with ``is_raw=True, pre_hashed=True`` and never normalizes anything itself: its own normalizer strips accents
from names, which Meta's rules keep. Each uploader has its own API object (``FacebookAdsApi.init`` is never called,
so the SDK's crash reporter, which posts tracebacks to Meta, is never installed).

Adds go in requests of at most 10,000 rows, each a step of one upload session (``session_id``, ``batch_seq``,
``last_batch_flag``); removals in small requests, because the SDK sends a DELETE's parameters in the URL.

Errors (Meta's codes, platform-apis §A4): rate limits and temporary failures (1, 2, 4, 17, 613, 80000–80014, 2650,
anything ``is_transient``, HTTP 5xx) are transient, with the wait Meta asks for when it says one; a restricted audience
(subcode 1713230, or status 471) blocks the destination with Meta's reason; everything else (190 expired token, 200 and
294 missing permission, 100 invalid parameter, …) is permanent and surfaced. Messages never carry identifiers: only
Meta's code, subcode and its own message.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookError, FacebookRequestError
from facebook_business.session import FacebookSession

from integrations.accounts import meta_account_normalized
from integrations.audience_upload import VALUE, UploadResult, UploadRow
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationCredentialsError,
    IntegrationPermanentError,
    IntegrationTransientError,
    unreachable,
)

SCHEMA = ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "EXTERN_ID"]
ADD_BATCH = 10_000  # Meta's limit per request
REMOVE_BATCH = 100  # up to about 600 bytes of URL a row: a DELETE stays under 64 KiB, which front ends accept
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 613, 2650})
CREDENTIAL_CODES = frozenset({190, 102, 200, 294})
RESTRICTED_SUBCODE = 1713230


class MetaUploader:
    records_payload = False
    batch_size = ADD_BATCH

    def __init__(
        self,
        *,
        access_token: str,
        audience_id: str,
        app_secret: str = "",
        api_version: str | None = None,
        timeout: float = 60.0,
        value_based: bool = False,
        graph_url: str | None = None,
    ) -> None:
        if not access_token:
            raise IntegrationCredentialsError("This Meta destination has no access token; add one on the destination.")
        self.audience_id = audience_id
        self.schema = [*SCHEMA, VALUE] if value_based else SCHEMA
        self._api = graph_api(access_token, app_secret, api_version, timeout, graph_url=graph_url)
        self._session_new()  # one upload session per run of adds

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        return self._call("add_users", rows, self._session_step(rows, last=last))

    def replace(self, rows: list[UploadRow], *, first: bool, last: bool) -> UploadResult:
        """One batch of a full replace (``usersreplace``): the session's first batch makes Meta drop every member it
        holds; the audience then holds exactly the rows of the session's batches."""
        if first:
            self._session_new()
        session = self._session_step(rows, last=last)
        payload = {"schema": self.schema, "is_raw": True, "data": _data(rows, self.schema)}
        try:
            body = CustomAudience(self.audience_id, api=self._api).create_users_replace(
                params={"payload": payload, "session": session}
            )
        except FacebookRequestError as error:
            raise meta_error(error) from None
        except requests.RequestException as error:
            raise unreachable("Meta", error) from None
        return _counted(body, rows)

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        accepted = invalid = 0
        reasons: dict[str, int] = {}
        for start in range(0, len(rows), REMOVE_BATCH):
            result = self._call("remove_users", rows[start : start + REMOVE_BATCH], None, schema=SCHEMA)
            accepted, invalid = accepted + result.accepted, invalid + result.invalid
            for reason, count in result.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + count
        return UploadResult(accepted=accepted, invalid=invalid, reasons=reasons)

    def _session_new(self) -> None:
        self._session_id, self._batch_seq = secrets.randbelow(2**62) + 1, 0

    def _session_step(self, rows: list[UploadRow], *, last: bool) -> dict[str, Any]:
        """The next step of the upload session for ``rows``; after its last step, a later upload opens a new one."""
        if len(rows) > ADD_BATCH:
            raise IntegrationPermanentError(f"At most {ADD_BATCH} rows go in one Meta request; {len(rows)} were given.")
        self._batch_seq += 1
        session = {"session_id": self._session_id, "batch_seq": self._batch_seq, "last_batch_flag": last}
        if last:
            self._session_new()
        return session

    def _call(
        self, method: str, rows: list[UploadRow], session: dict[str, Any] | None, *, schema: list[str] | None = None
    ) -> UploadResult:
        """Adds carry the value of a value-based audience; removals name people by their identifiers only."""
        audience = CustomAudience(self.audience_id, api=self._api)
        schema = schema or self.schema
        try:
            response = getattr(audience, method)(
                schema, _data(rows, schema), is_raw=True, pre_hashed=True, session=session
            )
        except FacebookRequestError as error:
            raise meta_error(error) from None
        except requests.RequestException as error:
            raise unreachable("Meta", error) from None
        except FacebookError as error:  # the SDK refused before sending: our request is wrong
            raise IntegrationPermanentError(f"Meta's SDK refused the request: {str(error)[:300]}") from None
        body = response.json()
        status = response.status()
        if status >= 400 or not isinstance(body, dict):  # the SDK takes any non-JSON answer for a success
            message = f"Meta answered HTTP {status} without a Graph API body"
            if status >= 500 or status == 429:
                raise IntegrationTransientError(message)
            raise IntegrationPermanentError(message)
        return _counted(body, rows)


def _data(rows: list[UploadRow], schema: list[str]) -> list[list[str | float]]:
    """Each row's hashes in schema order, a missing one as ""; the value as a number (0 when the row has none)."""
    return [
        [float(row.hashes.get(key) or 0) if key == VALUE else row.hashes.get(key, "") for key in schema] for row in rows
    ]


def _counted(body: Any, rows: list[UploadRow]) -> UploadResult:
    """What Meta said it received and could not use (``num_received``, ``num_invalid_entries``)."""
    received = int(body.get("num_received", len(rows)))
    refused = int(body.get("num_invalid_entries", 0))
    return UploadResult(
        accepted=max(received - refused, 0),
        invalid=refused,
        reasons={"invalid entry (Meta)": refused} if refused else {},
    )


def audience_create(
    *,
    access_token: str,
    ad_account_id: str,
    name: str,
    description: str = "",
    app_secret: str = "",
    value_based: bool = False,
    graph_url: str | None = None,
) -> str:
    """Create a customer-file Custom Audience in the ad account and return its id; ``value_based`` makes it a
    customer-value audience (``is_value_based``), whose members carry a LOOKALIKE_VALUE."""
    account = AdAccount(
        f"act_{_account_number(ad_account_id)}", api=graph_api(access_token, app_secret, graph_url=graph_url)
    )
    params: dict[str, Any] = {
        "name": name[:200],
        "description": description[:500],
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
    }
    if value_based:
        params["is_value_based"] = True
    try:
        created = account.create_custom_audience(params=params)
    except FacebookRequestError as error:
        raise meta_error(error) from None
    except requests.RequestException as error:
        raise unreachable("Meta", error) from None
    return str(created["id"])


def credentials_check(
    *, access_token: str, ad_account_id: str, app_secret: str = "", graph_url: str | None = None
) -> str:
    """Whether the token can reach the ad account (reads its id and name); returns the account's name.

    Raises IntegrationCredentialsError for an expired token or one without access (Meta's reason in the message).
    """
    account_number = _account_number(ad_account_id)
    account = AdAccount(f"act_{account_number}", api=graph_api(access_token, app_secret, graph_url=graph_url))
    try:
        found = account.api_get(fields=["id", "name"])
    except FacebookRequestError as error:
        failure = meta_error(error)
        if isinstance(failure, IntegrationPermanentError) and not isinstance(failure, IntegrationCredentialsError):
            # 100 "object does not exist" and the like: to this token, the account is not there
            raise IntegrationCredentialsError(f"{failure} Check the ad account id and the token's access.") from None
        raise failure from None
    except requests.RequestException as error:
        raise unreachable("Meta", error) from None
    return str(found.get("name") or f"act_{account_number}")


def _account_number(ad_account_id: str) -> str:
    account = meta_account_normalized(ad_account_id)
    if not account:
        raise IntegrationPermanentError("A Meta ad account id is its number (act_ optional), e.g. act_1234567890.")
    return account.removeprefix("act_")


def graph_api(
    access_token: str,
    app_secret: str,
    api_version: str | None = None,
    timeout: float = 60.0,
    *,
    graph_url: str | None = None,
) -> FacebookAdsApi:
    """The SDK's API object for one token. ``graph_url`` points it at another Graph API than Meta's (a stand-in, as
    the demo's; the caller passes ``META_GRAPH_URL``): for this session only, since the SDK reads it from there."""
    session = FacebookSession(access_token=access_token, app_secret=app_secret or None, timeout=timeout)
    if graph_url:
        session.GRAPH = graph_url
    return FacebookAdsApi(session, api_version=api_version)


def meta_error(error: FacebookRequestError) -> Exception:
    """The integration error for one of Meta's answers (the SDK's error, with code, subcode and message)."""
    code, subcode, status = error.api_error_code(), error.api_error_subcode(), error.http_status()
    what = f"Meta error {code}" + (f"/{subcode}" if subcode else "") + f": {(error.api_error_message() or '')[:300]}"
    if subcode == RESTRICTED_SUBCODE or status == 471:
        return IntegrationBlockedError(
            f"Meta restricted this audience ({what}). Change what it targets, then unblock it."
        )
    if code in CREDENTIAL_CODES:
        return IntegrationCredentialsError(f"{what}. Renew the access token or grant ads_management, then sync again.")
    transient = (
        code in TRANSIENT_CODES
        or (isinstance(code, int) and 80000 <= code <= 80014)
        or bool(error.api_transient_error())
        or (isinstance(status, int) and status >= 500)
    )
    if transient:
        return IntegrationTransientError(what, retry_after=_regain_access_seconds(error.http_headers() or {}))
    return IntegrationPermanentError(what)


def _regain_access_seconds(headers: Any) -> float | None:
    """Meta's ``X-Business-Use-Case-Usage`` says, per business, how many minutes until the quota comes back."""
    raw = next((value for name, value in dict(headers).items() if name.lower() == "x-business-use-case-usage"), None)
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in (entries if isinstance(entries, list) else [entries])
            if isinstance(entry, dict)
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None
