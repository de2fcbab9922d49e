"""Google Customer Match through the Google Ads API (``google-ads``), for developer tokens already allowlisted.

Google requires the Data Manager API (``integrations.google.datamanager``) for new Customer Match integrations since
2026-04-01; existing eligible integrations may keep the Google Ads API, and a destination chooses this path only for
them. The credentials are a JSON object: the OAuth fields (``client_id``, ``client_secret``, ``refresh_token``, or an
``access_token`` for trials) and the ``developer_token``.

* The list is a CRM-based user list (``CONTACT_INFO``, 540-day membership) made with ``UserListService``.
* One sync is one ``OfflineUserDataJob`` (``CUSTOMER_MATCH_USER_LIST``), created at its first operation with the
  consent that applies to all of it (granted: only consented people are uploaded), with its adds and removals added
  in requests of at most 10,000 members (each identifier its own ``UserIdentifier``: the field is a oneof), partial
  failure on, and run when the sync closes it. Google processes a job for up to a day; ``request_status`` reads its
  status with ``GoogleAdsService.Search``.
* Errors: ``GoogleAdsException`` carries Google's error codes: quota errors are transient (with the retry delay
  Google gives), authentication and authorization errors are credential errors, and a customer not allowlisted for
  Customer Match blocks the destination. Plain gRPC ``RESOURCE_EXHAUSTED``, ``UNAVAILABLE``, ``INTERNAL`` and
  ``DEADLINE_EXCEEDED`` are transient (the client has no retry of its own).
"""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.api_core import exceptions as google_exceptions

from integrations.audience_upload import UploadResult, UploadRow
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationPermanentError,
    IntegrationTransientError,
    unreachable,
)
from integrations.google.datamanager import (
    GOOGLE_FAILURES,
    MAX_MEMBERS,
    MEMBERSHIP_DAYS,
    RequestOutcome,
    credentials_from,
    google_error,
)

VERSION = "v26"
_TRANSIENT_GRPC = {
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
_CREDENTIAL_ERRORS = {"authentication_error", "authorization_error"}
_CREDENTIAL_GRPC = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
FAILURE_KEY = f"google.ads.googleads.{VERSION}.errors.googleadsfailure-bin"
_BLOCKING = {"CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE", "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS"}
_JOB_NAME = re.compile(r"customers/[0-9]+/offlineUserDataJobs/[0-9]+")
_JOB_STATUS = {"SUCCESS": "succeeded", "FAILED": "failed", "PENDING": "processing", "RUNNING": "processing"}


def client_for(secret: str, *, login_customer_id: str = "", endpoint: str | None = None) -> GoogleAdsClient:
    """A client from the destination's JSON: the OAuth credentials and the developer token. ``endpoint`` (host:port,
    TLS) points it at another Google Ads API than Google's (a stand-in; the caller passes ``GOOGLE_ADS_ENDPOINT``)."""
    try:
        info = json.loads(secret or "{}")
    except ValueError:
        info = None
    if not isinstance(info, dict) or not info.get("developer_token"):
        raise IntegrationCredentialsError(
            "The Google Ads API needs a JSON object with the developer_token and the OAuth client's fields."
        )
    oauth = {key: value for key, value in info.items() if key != "developer_token"}
    credentials = credentials_from(oauth.get("access_token") or json.dumps(oauth))
    return GoogleAdsClient(
        credentials=credentials,
        developer_token=info["developer_token"],
        endpoint=endpoint,
        login_customer_id=login_customer_id or None,
        use_proto_plus=True,
        version=VERSION,
    )


def ads_error(error: Exception) -> IntegrationError:
    """Google Ads' answer as an integration error: its status, error codes and message, never a member.

    The client raises ``GoogleAdsException`` for most refusals, but leaves ``RESOURCE_EXHAUSTED`` and ``INTERNAL`` as
    plain gRPC errors; their Google Ads failure (with a quota error's retry delay) is read from the trailers here."""
    failure, code = _failure_of(error)
    if code is None:
        return google_error(error)  # the OAuth and transport failures, as for the Data Manager API
    if failure is None and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return unreachable("Google Ads", error)  # gRPC's details name the address it tried: not passed on
    codes = []
    for entry in failure.errors if failure is not None else []:
        kind = type(entry.error_code).pb(entry.error_code).WhichOneof("error_code") or "error"
        codes.append((kind, getattr(entry.error_code, kind).name, entry.message))
    names = " " + ", ".join(f"{kind}.{name}" for kind, name, _ in codes) if codes else ""
    detail = codes[0][2] if codes else _details(error)
    text = f"Google Ads {code.name}{names}: {detail[:300] or 'no message'}"
    if any(name in _BLOCKING for _, name, _ in codes):
        return IntegrationBlockedError(text)
    if any(kind == "quota_error" for kind, _, _ in codes) or code in _TRANSIENT_GRPC:
        return IntegrationTransientError(text, retry_after=_retry_delay(failure))
    if any(kind in _CREDENTIAL_ERRORS for kind, _, _ in codes) or code in _CREDENTIAL_GRPC:
        return IntegrationCredentialsError(text)
    return IntegrationPermanentError(text)


def _failure_of(error: Exception) -> tuple[Any, grpc.StatusCode | None]:
    """The Google Ads failure and the gRPC status behind any of the client's errors (None, None: not a gRPC one)."""
    if isinstance(error, GoogleAdsException):
        return error.failure, error.error.code()
    call = error.response if isinstance(error, google_exceptions.GoogleAPICallError) else error
    if not isinstance(call, grpc.Call):
        return None, None
    for key, value in call.trailing_metadata() or ():
        if key == FAILURE_KEY:
            return GoogleAdsFailure.deserialize(value), call.code()
    return None, call.code()


def _details(error: Exception) -> str:
    call = error.response if isinstance(error, google_exceptions.GoogleAPICallError) else error
    return str(call.details() or "") if isinstance(call, grpc.Call) else ""


def _retry_delay(failure: Any) -> float | None:
    for entry in failure.errors if failure is not None else []:
        delay = entry.details.quota_error_details.retry_delay  # a timedelta (proto-plus converts the Duration)
        seconds = delay.total_seconds() if delay else 0
        if seconds > 0:
            return float(seconds)
    return None


# What the Google Ads client raises for Google's answers, its credentials and the network; anything else is a bug of
# ours and keeps its traceback.
ADS_FAILURES = (GoogleAdsException, grpc.RpcError, *GOOGLE_FAILURES)


def _call(method: Any, **request: Any) -> Any:
    try:
        return method(**request)
    except ADS_FAILURES as error:
        raise ads_error(error) from None


def user_list_create(
    *,
    credentials: str,
    customer_id: str,
    name: str,
    description: str,
    login_customer_id: str = "",
    endpoint: str | None = None,
) -> str:
    """The CRM-based Customer Match list; answers its resource name."""
    client = client_for(credentials, login_customer_id=login_customer_id, endpoint=endpoint)
    operation = client.get_type("UserListOperation")
    user_list = operation.create
    user_list.name = name[:200]
    user_list.description = description[:500]
    user_list.membership_life_span = MEMBERSHIP_DAYS
    user_list.crm_based_user_list.upload_key_type = client.enums.CustomerMatchUploadKeyTypeEnum.CONTACT_INFO
    service = client.get_service("UserListService")
    answer = _call(service.mutate_user_lists, customer_id=customer_id, operations=[operation])
    return str(answer.results[0].resource_name)


def credentials_check(
    *, credentials: str, customer_id: str, login_customer_id: str = "", endpoint: str | None = None
) -> None:
    client = client_for(credentials, login_customer_id=login_customer_id, endpoint=endpoint)
    service = client.get_service("GoogleAdsService")
    _call(lambda **r: list(service.search(**r)), customer_id=customer_id, query="SELECT customer.id FROM customer")


class GoogleAdsUploader:
    """One sync, one OfflineUserDataJob: created at its first operation, run by ``close``."""

    records_payload = False
    batch_size = MAX_MEMBERS

    def __init__(
        self,
        *,
        credentials: str,
        customer_id: str,
        user_list: str,
        login_customer_id: str = "",
        endpoint: str | None = None,
    ) -> None:
        self._client = client_for(credentials, login_customer_id=login_customer_id, endpoint=endpoint)
        self._jobs = self._client.get_service("OfflineUserDataJobService")
        self.customer_id, self.user_list = customer_id, user_list
        self._job = ""

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        return self._operations(rows, "create")

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        return self._operations(rows, "remove")

    def close(self) -> None:
        """Run the job: Google then applies it, in its own time (``request_status`` tells)."""
        if self._job:
            _call(self._jobs.run_offline_user_data_job, resource_name=self._job)
            self._job = ""

    def request_status(self, job: str) -> RequestOutcome:
        if not _JOB_NAME.fullmatch(job):
            raise IntegrationPermanentError("Not an offline user data job's resource name.")
        service = self._client.get_service("GoogleAdsService")
        query = (
            "SELECT offline_user_data_job.status, offline_user_data_job.failure_reason "  # noqa: S608 (job checked)
            f"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{job}'"
        )
        rows = _call(lambda **r: list(service.search(**r)), customer_id=self.customer_id, query=query)
        if not rows:
            return RequestOutcome(status="failed", reasons={"job not found": 1})
        found = rows[0].offline_user_data_job
        status = _JOB_STATUS.get(found.status.name, "processing")
        reasons = {found.failure_reason.name: 1} if status == "failed" else {}
        return RequestOutcome(status=status, reasons=reasons)

    def _job_open(self) -> str:
        if not self._job:
            job = self._client.get_type("OfflineUserDataJob")
            job.type_ = self._client.enums.OfflineUserDataJobTypeEnum.CUSTOMER_MATCH_USER_LIST
            job.customer_match_user_list_metadata.user_list = self.user_list
            granted = self._client.enums.ConsentStatusEnum.GRANTED
            job.customer_match_user_list_metadata.consent.ad_user_data = granted
            job.customer_match_user_list_metadata.consent.ad_personalization = granted
            answer = _call(self._jobs.create_offline_user_data_job, customer_id=self.customer_id, job=job)
            self._job = answer.resource_name
        return self._job

    def _operations(self, rows: list[UploadRow], kind: str) -> UploadResult:
        if len(rows) > MAX_MEMBERS:
            raise IntegrationPermanentError(f"At most {MAX_MEMBERS} members go in one Google Ads request.")
        operations, sent = [], []
        for row in rows:
            identifiers = self._identifiers(row.hashes)
            if not identifiers:
                continue
            operation = self._client.get_type("OfflineUserDataJobOperation")
            getattr(operation, kind).user_identifiers.extend(identifiers)
            operations.append(operation)
            sent.append(row)
        invalid = len(rows) - len(operations)
        reasons = {"no usable identifier": invalid} if invalid else {}
        if not operations:
            return UploadResult(accepted=0, invalid=invalid, reasons=reasons)
        job = self._job_open()
        answer = _call(
            self._jobs.add_offline_user_data_job_operations,
            request={"resource_name": job, "operations": operations, "enable_partial_failure": True},
        )
        failed = _partial_failures(answer, self._client)
        for reason, count in failed.items():
            reasons[reason] = reasons.get(reason, 0) + count
        refused = sum(failed.values())
        return UploadResult(
            accepted=len(operations) - refused, invalid=invalid + refused, reasons=reasons, request_id=job
        )

    def _identifiers(self, hashes: dict[str, str]) -> list[Any]:
        """One ``UserIdentifier`` per identifier (a second field set on one would clear the first)."""
        out = []
        for key, field in (("email_address", "hashed_email"), ("phone_number", "hashed_phone_number")):
            if hashes.get(key):
                identifier = self._client.get_type("UserIdentifier")
                setattr(identifier, field, hashes[key])
                out.append(identifier)
        if all(hashes.get(k) for k in ("given_name", "family_name", "region_code", "postal_code")):
            identifier = self._client.get_type("UserIdentifier")
            identifier.address_info.hashed_first_name = hashes["given_name"]
            identifier.address_info.hashed_last_name = hashes["family_name"]
            identifier.address_info.country_code = hashes["region_code"]
            identifier.address_info.postal_code = hashes["postal_code"]
            out.append(identifier)
        return out


def _partial_failures(answer: Any, client: GoogleAdsClient) -> dict[str, int]:
    """Operations Google refused within a request, by its error code (partial failure)."""
    status = answer.partial_failure_error
    if not status or not status.details:
        return {}
    failure_type = type(client.get_type("GoogleAdsFailure"))
    counted: dict[str, int] = {}
    for detail in status.details:
        failure = failure_type.deserialize(detail.value)
        for entry in failure.errors:
            kind = type(entry.error_code).pb(entry.error_code).WhichOneof("error_code") or "error"
            name = f"{kind}.{getattr(entry.error_code, kind).name}"
            counted[name] = counted.get(name, 0) + 1
    return counted
