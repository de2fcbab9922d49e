"""A loopback stand-in for the Google Ads API's Customer Match services, over gRPC with TLS, with Google's rules.

The official client always builds a TLS channel (platform-apis §B2), so the stand-in serves TLS with a self-signed
certificate for ``localhost`` and ``127.0.0.1`` made when it starts; ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` pointed at
``cert_path`` makes the client trust it (§B3). Each call must carry the bearer token and the developer token the
stand-in was given (else ``OAUTH_TOKEN_INVALID`` or ``DEVELOPER_TOKEN_PROHIBITED``, as Google answers). It serves:

* ``UserListService/MutateUserLists``: a CRM-based list (membership 0–540 days);
* ``OfflineUserDataJobService``: ``CreateOfflineUserDataJob`` (a Customer Match job for a list, with its consent),
  ``AddOfflineUserDataJobOperations`` (at most 100,000 identifiers a request and 20 a member; a malformed hash fails
  that operation alone, through partial failure, which must be enabled) and ``RunOfflineUserDataJob``, which applies
  the job at once (status SUCCESS) unless ``hold_jobs`` is set;
* ``GoogleAdsService/Search``: a job's status, or the customer.

``fail_next`` scripts the next call's failure: a gRPC status with a Google Ads error (``quota_error`` with a retry
delay, ``authentication_error``, ``not_allowlisted_error``, …).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.ads.googleads.v26.common.types.metrics import Metrics
from google.ads.googleads.v26.common.types.segments import Segments
from google.ads.googleads.v26.enums.types.offline_user_data_job_status import OfflineUserDataJobStatusEnum
from google.ads.googleads.v26.errors.types import errors as ads_errors
from google.ads.googleads.v26.resources.types.campaign import Campaign
from google.ads.googleads.v26.resources.types.click_view import ClickView
from google.ads.googleads.v26.resources.types.customer import Customer
from google.ads.googleads.v26.resources.types.offline_user_data_job import OfflineUserDataJob
from google.ads.googleads.v26.services.types import google_ads_service as search_types
from google.ads.googleads.v26.services.types import offline_user_data_job_service as job_types
from google.ads.googleads.v26.services.types import user_list_service as list_types
from google.longrunning import operations_pb2
from google.rpc import status_pb2

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_MEMBER = 20
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
Status = OfflineUserDataJobStatusEnum.OfflineUserDataJobStatus


@functools.cache
def self_signed_certificate() -> tuple[Path, bytes, bytes]:
    """A certificate for localhost and 127.0.0.1, valid for a day: its path, the key and the certificate (PEM).

    One per process: gRPC reads ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` once, at its first secure channel."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = Path(tempfile.mkdtemp(prefix="ladder-google-ads-")) / "google-ads-standin.pem"
    path.write_bytes(cert_pem)
    return path, key_pem, cert_pem


class GoogleAdsFake:
    def __init__(self, *, access_token: str, developer_token: str) -> None:
        self.access_token, self.developer_token = access_token, developer_token
        self.user_lists: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.hold_jobs = False  # run jobs stay RUNNING until ``jobs_finish``
        self.refuse_removals = False  # a request holding a removal is refused (REMOVE_NOT_SUPPORTED)
        self._failures: list[tuple[grpc.StatusCode, str, str, str, float | None]] = []
        # Campaign cost: per customer id its rows (campaign_id, name, date, cost_micros, impressions, clicks,
        # conversions, conversions_value), its currency; SearchStream sends ``stream_batch`` rows a message.
        self.spend: dict[str, list[dict[str, Any]]] = {}
        self.currency: dict[str, str] = {}
        self.stream_batch = 10_000
        self.clicks: dict[str, list[tuple[str, str, str]]] = {}  # customer → (gclid, campaign id, YYYY-MM-DD)
        self._next_id = 5_000_000
        self._lock = threading.Lock()
        self.cert_path, key, cert = self_signed_certificate()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers(self._handlers())
        port = self.server.add_secure_port("localhost:0", grpc.ssl_server_credentials([(key, cert)]))
        self.endpoint = f"localhost:{port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)

    def fail_next(
        self,
        code: grpc.StatusCode,
        kind: str,
        name: str,
        message: str = "Refused.",
        *,
        retry_seconds: float | None = None,
        times: int = 1,
    ) -> None:
        self._failures.extend([(code, kind, name, message, retry_seconds)] * times)

    def jobs_finish(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                if job["status"] == Status.RUNNING:
                    self._apply(job)

    # --- the services ----------------------------------------------------------------------------------

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(fn: Any, request: Any, response: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                self._guarded(fn), request_deserializer=request.deserialize, response_serializer=response.serialize
            )

        prefix = "google.ads.googleads.v26.services."
        run = grpc.unary_unary_rpc_method_handler(
            self._guarded(self._run),
            request_deserializer=job_types.RunOfflineUserDataJobRequest.deserialize,
            response_serializer=operations_pb2.Operation.SerializeToString,
        )
        return [
            grpc.method_handlers_generic_handler(
                prefix + "UserListService",
                {
                    "MutateUserLists": unary(
                        self._lists, list_types.MutateUserListsRequest, list_types.MutateUserListsResponse
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                prefix + "OfflineUserDataJobService",
                {
                    "CreateOfflineUserDataJob": unary(
                        self._create,
                        job_types.CreateOfflineUserDataJobRequest,
                        job_types.CreateOfflineUserDataJobResponse,
                    ),
                    "AddOfflineUserDataJobOperations": unary(
                        self._add,
                        job_types.AddOfflineUserDataJobOperationsRequest,
                        job_types.AddOfflineUserDataJobOperationsResponse,
                    ),
                    "RunOfflineUserDataJob": run,
                },
            ),
            grpc.method_handlers_generic_handler(
                prefix + "GoogleAdsService",
                {
                    "Search": unary(
                        self._search, search_types.SearchGoogleAdsRequest, search_types.SearchGoogleAdsResponse
                    ),
                    "SearchStream": grpc.unary_stream_rpc_method_handler(
                        self._guarded(self._search_stream),
                        request_deserializer=search_types.SearchGoogleAdsStreamRequest.deserialize,
                        response_serializer=search_types.SearchGoogleAdsStreamResponse.serialize,
                    ),
                },
            ),
        ]

    def _guarded(self, fn: Any) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata())
            with self._lock:
                self.calls.append(fn.__name__.strip("_"))
                if metadata.get("authorization") != f"Bearer {self.access_token}":
                    self._abort(context, grpc.StatusCode.UNAUTHENTICATED, "authentication_error", "OAUTH_TOKEN_INVALID")
                if metadata.get("developer-token") != self.developer_token:
                    self._abort(
                        context, grpc.StatusCode.PERMISSION_DENIED, "authorization_error", "DEVELOPER_TOKEN_PROHIBITED"
                    )
                if self._failures:
                    code, kind, name, message, retry = self._failures.pop(0)
                    self._abort(context, code, kind, name, message, retry_seconds=retry)
                return fn(request, context)

        call.__name__ = fn.__name__
        return call

    def _abort(
        self,
        context: grpc.ServicerContext,
        code: grpc.StatusCode,
        kind: str,
        name: str,
        message: str = "Refused.",
        *,
        retry_seconds: float | None = None,
    ) -> NoReturn:
        failure = ads_errors.GoogleAdsFailure(errors=[_ads_error(kind, name, message, retry_seconds)])
        context.set_trailing_metadata(
            ((FAILURE_KEY, ads_errors.GoogleAdsFailure.serialize(failure)), ("request-id", "fake-request"))
        )
        context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    def _lists(self, request: Any, context: grpc.ServicerContext) -> Any:
        results = []
        for operation in request.operations:
            created = operation.create
            if not 0 <= created.membership_life_span <= 540:
                self._abort(
                    context, grpc.StatusCode.INVALID_ARGUMENT, "user_list_error", "INVALID_MEMBERSHIP_LIFE_SPAN"
                )
            self._next_id += 1
            resource = f"customers/{request.customer_id}/userLists/{self._next_id}"
            self.user_lists[resource] = {"name": created.name, "life_span": created.membership_life_span}
            self.members[resource] = set()
            results.append(list_types.MutateUserListResult(resource_name=resource))
        return list_types.MutateUserListsResponse(results=results)

    def _create(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = request.job.customer_match_user_list_metadata
        if metadata.user_list not in self.user_lists:
            self._abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "INVALID_USER_LIST_ID"
            )
        self._next_id += 1
        resource = f"customers/{request.customer_id}/offlineUserDataJobs/{self._next_id}"
        consent = (metadata.consent.ad_user_data.name, metadata.consent.ad_personalization.name)
        self.jobs[resource] = {"list": metadata.user_list, "consent": consent, "ops": [], "status": Status.PENDING}
        return job_types.CreateOfflineUserDataJobResponse(resource_name=resource)

    def _add(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self.jobs.get(request.resource_name)
        if job is None or job["status"] != Status.PENDING:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "INVALID_JOB_STATUS")
        if not request.enable_partial_failure:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "request_error", "REQUIRED_FIELD_MISSING")
        if self.refuse_removals and any("remove" in operation for operation in request.operations):
            self._abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "REMOVE_NOT_SUPPORTED"
            )
        if sum(len(_data(op).user_identifiers) for op in request.operations) > MAX_IDENTIFIERS_PER_REQUEST:
            self._abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "TOO_MANY_USER_IDENTIFIERS"
            )
        failed = []
        for index, operation in enumerate(request.operations):
            identifiers = _member(_data(operation))
            if identifiers is None:
                failed.append(
                    _ads_error("offline_user_data_job_error", "INVALID_SHA256_FORMAT", f"operations[{index}]")
                )
                continue
            job["ops"].append(("create" if "create" in operation else "remove", identifiers))
        answer = job_types.AddOfflineUserDataJobOperationsResponse()
        if failed:
            failure = ads_errors.GoogleAdsFailure(errors=failed)
            detail = status_pb2.Status(code=3, message="Some operations failed.")
            any_detail = detail.details.add()
            any_detail.Pack(ads_errors.GoogleAdsFailure.pb(failure))
            answer.partial_failure_error = detail
        return answer

    def _run(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self.jobs.get(request.resource_name)
        if job is None or job["status"] != Status.PENDING:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "INVALID_JOB_STATUS")
        job["status"] = Status.RUNNING
        if not self.hold_jobs:
            self._apply(job)
        return operations_pb2.Operation(name=f"operations/{request.resource_name}", done=False)

    def _apply(self, job: dict[str, Any]) -> None:
        held = self.members[job["list"]]
        for kind, identifiers in job["ops"]:
            if kind == "create":
                held.add(identifiers)
            else:
                leaving = set(identifiers)
                self.members[job["list"]] = held = {m for m in held if not leaving & set(m)}
        job["status"] = Status.SUCCESS

    def _search_stream(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The customer (its currency and time zone), or campaign cost by day between two dates, in batches."""
        customer = Customer(
            id=int(request.customer_id),
            descriptive_name=f"Ads {request.customer_id}",
            currency_code=self.currency.get(request.customer_id, "USD"),
            time_zone="Europe/Berlin",
        )
        if "FROM customer" in request.query:
            rows = [search_types.GoogleAdsRow(customer=customer)]
        elif "FROM click_view" in request.query:
            one_day = re.search(r"segments\.date = '(\d{4}-\d{2}-\d{2})'", request.query)
            if one_day is None:  # Google's rule: click_view is asked for one day
                self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "query_error", "EXPECTED_FILTERS_ON_DATE_RANGE")
            rows = [
                search_types.GoogleAdsRow(click_view=ClickView(gclid=gclid), campaign=Campaign(id=int(campaign)))
                for gclid, campaign, day in self.clicks.get(request.customer_id, [])
                if day == one_day.group(1)
            ]
        else:
            window = re.search(r"segments\.date BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'", request.query)
            if "FROM campaign" not in request.query or window is None or "metrics.cost_micros" not in request.query:
                self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "query_error", "PROHIBITED_METRIC_IN_SELECT")
            since, until = window.group(1), window.group(2)
            rows = [
                search_types.GoogleAdsRow(
                    customer=Customer(currency_code=customer.currency_code),
                    campaign=Campaign(id=int(r["campaign_id"]), name=r["name"]),
                    segments=Segments(date=r["date"]),
                    metrics=Metrics(
                        cost_micros=r["cost_micros"],
                        impressions=r.get("impressions", 0),
                        clicks=r.get("clicks", 0),
                        conversions=r.get("conversions", 0.0),
                        conversions_value=r.get("conversions_value", 0.0),
                    ),
                )
                for r in self.spend.get(request.customer_id, [])
                if since <= r["date"] <= until
            ]
        for start in range(0, max(len(rows), 1), self.stream_batch):
            yield search_types.SearchGoogleAdsStreamResponse(results=rows[start : start + self.stream_batch])

    def _search(self, request: Any, context: grpc.ServicerContext) -> Any:
        if "FROM customer" in request.query:
            row = search_types.GoogleAdsRow(customer=Customer(id=int(request.customer_id)))
            return search_types.SearchGoogleAdsResponse(results=[row])
        found = re.search(r"resource_name = '([^']+)'", request.query)
        job = self.jobs.get(found.group(1)) if found else None
        if job is None:
            return search_types.SearchGoogleAdsResponse(results=[])
        row = search_types.GoogleAdsRow(
            offline_user_data_job=OfflineUserDataJob(resource_name=found.group(1), status=job["status"])  # type: ignore[union-attr]
        )
        return search_types.SearchGoogleAdsResponse(results=[row])


def _data(operation: Any) -> Any:
    return operation.create if "create" in operation else operation.remove


def _member(data: Any) -> tuple[tuple[str, str], ...] | None:
    """A member's identifiers in the form the Data Manager stand-in keeps them, or None for a malformed one."""
    if not data.user_identifiers or len(data.user_identifiers) > MAX_IDENTIFIERS_PER_MEMBER:
        return None
    found: list[tuple[str, str]] = []
    for identifier in data.user_identifiers:
        if identifier.hashed_email:
            found.append(("email_address", identifier.hashed_email))
        if identifier.hashed_phone_number:
            found.append(("phone_number", identifier.hashed_phone_number))
        if identifier.address_info.hashed_first_name:
            address = identifier.address_info
            found += [
                ("given_name", address.hashed_first_name),
                ("family_name", address.hashed_last_name),
                ("region_code", address.country_code),
                ("postal_code", address.postal_code),
            ]
    hashed = [value for key, value in found if key not in ("region_code", "postal_code")]
    if not found or not all(HEX64.match(value) for value in hashed):
        return None
    return tuple(sorted(found))


def _ads_error(kind: str, name: str, message: str, retry_seconds: float | None = None) -> Any:
    error_code = ads_errors.ErrorCode()
    setattr(error_code, kind, getattr(ads_errors.ErrorCode.meta.fields[kind].enum, name))  # e.g. QuotaError
    error = ads_errors.GoogleAdsError(error_code=error_code, message=message)
    if retry_seconds is not None:
        error.details.quota_error_details.retry_delay = dt.timedelta(seconds=retry_seconds)
    return error


def main() -> None:
    """Serve the stand-in on its own, to try a Google Ads API destination without Google (README)."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(
        description="A loopback stand-in for the Google Ads API's Customer Match services."
    )
    parser.add_argument("--token", default="demo-token", help="The OAuth access token it accepts.")
    parser.add_argument("--developer-token", default="demo-developer-token")
    args = parser.parse_args()
    fake = GoogleAdsFake(access_token=args.token, developer_token=args.developer_token)
    sys.stdout.write(
        f"Google Ads API stand-in on {fake.endpoint} (TLS). Start Ladder with GOOGLE_ADS_ENDPOINT={fake.endpoint} "
        f"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={fake.cert_path}. Ctrl-C stops it.\n"
    )
    sys.stdout.flush()
    try:
        while True:
            time.sleep(60)
            sys.stdout.write(f"user lists and their sizes: { ({k: len(v) for k, v in fake.members.items()}) }\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
