"""Google Customer Match through the Data Manager API, with the official ``google-ads-datamanager`` client.

Google requires the Data Manager API for new Customer Match integrations since 2026-04-01 (platform-apis §0). No
developer token is needed: the client authenticates with OAuth (scope ``datamanager``), from an authorized-user JSON
(client id, secret, refresh token), a service-account key, or a bare access token for trials against a stand-in.

* The user list is created once, through the Data Manager's user-list service (a first-party contact-id list, kept
  for Google's maximum of 540 days), and its id is kept on the destination.
* Rows arrive normalized and hashed by ``integrations.identifiers`` in Google's own way (``google_identifiers``:
  e-mail with Gmail's dots and ``+suffix`` removed, phone in E.164 with ``+``, names hashed, region and postal code in
  clear). Each member carries its consent (``ad_user_data`` and ``ad_personalization``): Ladder uploads only people
  whose ad-audience consent is granted now, so both are granted. Removals need none.
* At most 10,000 members go in one request. The API fails a request as a whole (no partial failure), so a member
  with no usable identifier is never sent: it is counted as invalid here.
* Ingestion is asynchronous: each request answers a ``request_id``, and ``request_status`` later says whether Google
  applied it and how many records failed for which reason.

Errors map to the integration family: ``RESOURCE_EXHAUSTED`` (429), ``DEADLINE_EXCEEDED``, 5xx and connection
failures are transient (with Google's ``RetryInfo`` delay when it gives one); ``UNAUTHENTICATED`` and
``PERMISSION_DENIED`` are credential errors; unsigned Customer Match terms and consent refusals block the destination;
any other ``INVALID_ARGUMENT`` is permanent. Messages carry Google's status, reason and message, never identifiers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import google.auth.exceptions
import requests
from google.ads import datamanager_v1 as dm
from google.api_core import exceptions as google_exceptions
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google.protobuf import duration_pb2  # type: ignore[import-untyped]

from integrations.audience_upload import UploadResult, UploadRow
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationPermanentError,
    IntegrationTransientError,
    unreachable,
)

SCOPE = "https://www.googleapis.com/auth/datamanager"
MAX_MEMBERS = 10_000  # Data Manager's limit per ingest or remove request
MEMBERSHIP_DAYS = 540  # Google's longest Customer Match membership
BLOCKING_REASONS = frozenset(
    {"TERMS_AND_CONDITIONS_NOT_SIGNED", "DENIED_CONSENT", "NO_CONSENT", "UNKNOWN_CONSENT", "INVALID_CONSENT"}
)
CONSENT_GRANTED = dm.Consent(
    ad_user_data=dm.ConsentStatus.CONSENT_GRANTED, ad_personalization=dm.ConsentStatus.CONSENT_GRANTED
)
_HASHED_ADDRESS_KEYS = ("given_name", "family_name")


def credentials_from(secret: str) -> Credentials:
    """OAuth credentials from what the marketer pasted: an authorized-user JSON (``client_id``, ``client_secret``,
    ``refresh_token``), a service-account key JSON, or a bare access token (short-lived: for trials)."""
    text = (secret or "").strip()
    if not text:
        raise IntegrationCredentialsError("The Google destination has no credentials; paste an OAuth client JSON.")
    if not text.startswith("{"):
        return user_credentials.Credentials(token=text)
    try:
        info = json.loads(text)
        if info.get("type") == "service_account":
            return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        return user_credentials.Credentials.from_authorized_user_info(info, scopes=[SCOPE])
    except (ValueError, KeyError, TypeError) as error:
        # google-auth names the missing fields; the JSON's values are never repeated.
        reason = (
            str(error) if isinstance(error, ValueError) and "missing fields" in str(error) else type(error).__name__
        )
        raise IntegrationCredentialsError(f"The Google credentials are not a usable OAuth JSON ({reason}).") from None


def client_options(endpoint: str | None) -> dict[str, str]:
    """The client's options: ``endpoint`` points it at another Data Manager API than Google's (a stand-in; the caller
    passes ``GOOGLE_DATAMANAGER_URL``)."""
    return {"api_endpoint": endpoint} if endpoint else {}


def product_account(customer_id: str) -> dm.ProductAccount:
    return dm.ProductAccount(account_type=dm.ProductAccount.AccountType.GOOGLE_ADS, account_id=customer_id)


# What the Data Manager client raises for Google's answers, its credentials and the network; anything else is a bug of
# ours and keeps its traceback.
GOOGLE_FAILURES = (
    google_exceptions.GoogleAPICallError,
    google.auth.exceptions.GoogleAuthError,
    requests.RequestException,
)


def google_error(error: Exception) -> IntegrationError:
    """Google's answer as an integration error: the status, Google's reason and message, never a member."""
    if isinstance(error, google.auth.exceptions.RefreshError):
        if "necessary fields" in str(error):  # a bare access token Google refused, which nothing can refresh
            return IntegrationCredentialsError(
                "Google refused the access token, and a bare token cannot be renewed: paste an OAuth client JSON "
                "with a refresh token."
            )
        return IntegrationCredentialsError(f"Google refused the OAuth credentials ({_first_line(error)}).")
    if isinstance(error, google.auth.exceptions.TransportError | requests.RequestException):
        return unreachable("Google", error)
    if not isinstance(error, google_exceptions.GoogleAPICallError):
        return IntegrationPermanentError(f"Google's answer could not be read ({type(error).__name__}).")
    reasons = _reasons(error)
    status, message = _status_and_message(error)
    text = f"Google {status}{' ' + ', '.join(sorted(reasons - {status})) if reasons - {status} else ''}: {message}"
    if reasons & BLOCKING_REASONS:
        return IntegrationBlockedError(text)
    if isinstance(error, google_exceptions.TooManyRequests | google_exceptions.ResourceExhausted):
        return IntegrationTransientError(text, retry_after=_retry_delay(error))
    if isinstance(
        error,
        google_exceptions.ServerError | google_exceptions.DeadlineExceeded | google_exceptions.ServiceUnavailable,
    ):
        return IntegrationTransientError(text, retry_after=_retry_delay(error))
    if isinstance(error, google_exceptions.Unauthenticated | google_exceptions.Unauthorized):
        return IntegrationCredentialsError(text)
    if isinstance(error, google_exceptions.PermissionDenied | google_exceptions.Forbidden):
        return IntegrationCredentialsError(text)
    return IntegrationPermanentError(text)


def _status_and_message(error: google_exceptions.GoogleAPICallError) -> tuple[str, str]:
    """Google's status name and its own message (the REST client's message also names the URL)."""
    response = getattr(error, "response", None)
    try:
        body = response.json()["error"] if response is not None else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = body.get("status") or (error.grpc_status_code.name if error.grpc_status_code is not None else "")
    return str(status or error.code), _first_line(body.get("message") or error.message)


def _reasons(error: google_exceptions.GoogleAPICallError) -> set[str]:
    reasons = {error.reason} if error.reason else set()
    for detail in error.details or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reasons.add(str(detail["reason"]))
    return reasons


def _retry_delay(error: google_exceptions.GoogleAPICallError) -> float | None:
    for detail in error.details or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def _first_line(text: object) -> str:
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else "no message"


def user_list_create(
    *, credentials: str, customer_id: str, name: str, description: str, endpoint: str | None = None
) -> str:
    """Create the first-party Customer Match list (contact ids, 540-day membership); answers its id."""
    client = dm.UserListServiceClient(
        credentials=credentials_from(credentials), transport="rest", client_options=client_options(endpoint)
    )
    user_list = dm.UserList(
        display_name=name[:200],
        description=description[:500],
        membership_duration=duration_pb2.Duration(seconds=MEMBERSHIP_DAYS * 86_400),
        ingested_user_list_info=dm.IngestedUserListInfo(
            upload_key_types=[dm.IngestedUserListInfo.UploadKeyType.CONTACT_ID],
            contact_id_info=dm.ContactIdInfo(data_source_type=dm.DataSourceType.DATA_SOURCE_TYPE_FIRST_PARTY),
        ),
    )
    try:
        created = client.create_user_list(
            request=dm.CreateUserListRequest(
                parent=f"accountTypes/GOOGLE_ADS/accounts/{customer_id}", user_list=user_list
            )
        )
    except GOOGLE_FAILURES as error:
        raise google_error(error) from None
    if not created.id:
        raise IntegrationPermanentError("Google created the user list but did not say its id.")
    return str(created.id)


def credentials_check(*, credentials: str, customer_id: str, endpoint: str | None = None) -> None:
    """Ask Google for one of the account's user lists: raises the integration error if the token cannot."""
    client = dm.UserListServiceClient(
        credentials=credentials_from(credentials), transport="rest", client_options=client_options(endpoint)
    )
    try:
        pager = client.list_user_lists(
            request=dm.ListUserListsRequest(parent=f"accountTypes/GOOGLE_ADS/accounts/{customer_id}", page_size=1)
        )
        next(iter(pager.pages), None)
    except GOOGLE_FAILURES as error:
        raise google_error(error) from None


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What Google says it did with one request: ``status`` is processing, succeeded, partly or failed."""

    status: str
    records: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    match_rate: str = ""


class GoogleUploader:
    records_payload = False
    batch_size = MAX_MEMBERS

    def __init__(
        self,
        *,
        credentials: str,
        customer_id: str,
        user_list_id: str,
        login_customer_id: str = "",
        timeout: float = 60.0,
        endpoint: str | None = None,
    ) -> None:
        self._client = dm.IngestionServiceClient(
            credentials=credentials_from(credentials), transport="rest", client_options=client_options(endpoint)
        )
        self._destination = dm.Destination(
            operating_account=product_account(customer_id),
            login_account=product_account(login_customer_id) if login_customer_id else None,
            product_destination_id=user_list_id,
        )
        self._timeout = timeout

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        members, invalid = self._members(rows, consent=True)
        if not members:
            return UploadResult(accepted=0, invalid=invalid, reasons=_no_identifier(invalid))
        request = dm.IngestAudienceMembersRequest(
            destinations=[self._destination],
            audience_members=members,
            encoding=dm.Encoding.HEX,
            terms_of_service=dm.TermsOfService(customer_match_terms_of_service_status=dm.TermsOfServiceStatus.ACCEPTED),
        )
        answer = self._call(self._client.ingest_audience_members, request)
        return UploadResult(
            accepted=len(members), invalid=invalid, reasons=_no_identifier(invalid), request_id=answer.request_id
        )

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        members, invalid = self._members(rows, consent=False)
        if not members:
            return UploadResult(accepted=0, invalid=invalid, reasons=_no_identifier(invalid))
        request = dm.RemoveAudienceMembersRequest(
            destinations=[self._destination], audience_members=members, encoding=dm.Encoding.HEX
        )
        answer = self._call(self._client.remove_audience_members, request)
        return UploadResult(
            accepted=len(members), invalid=invalid, reasons=_no_identifier(invalid), request_id=answer.request_id
        )

    def request_status(self, request_id: str) -> RequestOutcome:
        answer = self._call(
            self._client.retrieve_request_status, dm.RetrieveRequestStatusRequest(request_id=request_id)
        )
        return request_outcome(answer)

    def _call(self, method: Any, request: Any) -> Any:
        try:
            # retry=None: the sync retries and waits itself (the client's own retry would hold a worker for minutes)
            return method(request=request, retry=None, timeout=self._timeout)
        except GOOGLE_FAILURES as error:
            raise google_error(error) from None

    def _members(self, rows: list[UploadRow], *, consent: bool) -> tuple[list[dm.AudienceMember], int]:
        if len(rows) > MAX_MEMBERS:
            raise IntegrationPermanentError(f"At most {MAX_MEMBERS} members go in one Google request.")
        members = []
        for row in rows:
            identifiers = identifiers_of(row.hashes)
            if not identifiers:
                continue
            member = dm.AudienceMember(user_data=dm.UserData(user_identifiers=identifiers))
            if consent:
                member.consent = CONSENT_GRANTED
            members.append(member)
        return members, len(rows) - len(members)


def identifiers_of(hashes: dict[str, str]) -> list[dm.UserIdentifier]:
    """One identifier each for the e-mail, the phone and (when whole) the address."""
    out = []
    if hashes.get("email_address"):
        out.append(dm.UserIdentifier(email_address=hashes["email_address"]))
    if hashes.get("phone_number"):
        out.append(dm.UserIdentifier(phone_number=hashes["phone_number"]))
    if all(hashes.get(key) for key in (*_HASHED_ADDRESS_KEYS, "region_code", "postal_code")):
        address = dm.AddressInfo(
            given_name=hashes["given_name"],
            family_name=hashes["family_name"],
            region_code=hashes["region_code"],
            postal_code=hashes["postal_code"],
        )
        out.append(dm.UserIdentifier(address=address))
    return out


def _no_identifier(count: int) -> dict[str, int]:
    return {"no usable identifier": count} if count else {}


_STATUS = {
    dm.RequestStatusPerDestination.RequestStatus.SUCCESS: "succeeded",
    dm.RequestStatusPerDestination.RequestStatus.PARTIAL_SUCCESS: "partial",
    dm.RequestStatusPerDestination.RequestStatus.FAILED: "failed",
    dm.RequestStatusPerDestination.RequestStatus.PROCESSING: "processing",
}


def request_outcome(answer: dm.RetrieveRequestStatusResponse) -> RequestOutcome:
    """One request's status (Ladder sends to one destination a request), with the failed records by reason."""
    if not answer.request_status_per_destination:
        return RequestOutcome(status="processing")
    per = answer.request_status_per_destination[0]
    reasons: dict[str, int] = {}
    for count in per.error_info.error_counts:
        reason = dm.ProcessingErrorReason(count.reason).name.removeprefix("PROCESSING_ERROR_REASON_")
        reasons[reason] = reasons.get(reason, 0) + count.record_count
    ingested = per.audience_members_ingestion_status.user_data_ingestion_status
    removed = per.audience_members_removal_status.user_data_removal_status
    records = ingested.record_count or removed.record_count
    match_rate = ""
    if ingested.upload_match_rate_range:
        match_rate = dm.MatchRateRange(ingested.upload_match_rate_range).name.removeprefix("MATCH_RATE_RANGE_")
    return RequestOutcome(
        status=_STATUS.get(per.request_status, "processing"),
        records=records,
        failed=sum(reasons.values()),
        reasons=reasons,
        match_rate=match_rate,
    )
