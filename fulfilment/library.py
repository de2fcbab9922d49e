"""The customer library: a buyer signs in with a one-time link e-mailed to them (no password) and finds everything
they bought, from every funnel; each file, link or text opens through a signed, expiring, rate-limited link that
is logged.

Links are signed with Django's signing (the project's secret): an access link names one access and expires after
the settings' ``link_hours``; a sign-in link names one ``LibrarySignIn`` row, which is used once and lasts
``SIGN_IN_MINUTES``. The sign-in page asks for a click before it uses the link, so a mail scanner that opens links
does not spend it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from common.http import client_ip
from fulfilment.models import Access, Deliverable, LibrarySignIn
from fulfilment.services import download_record, fulfilment_settings, library_of
from funnels.capture.throttles import FixedWindowThrottle
from leads.mail import address_undeliverable
from leads.models import Lead
from leads.normalization import normalize_email

logger = logging.getLogger(__name__)

ACCESS_SALT = "fulfilment.access"
SIGN_IN_SALT = "fulfilment.sign-in"
SIGN_IN_MINUTES = 30
SESSION_KEY = "library_lead"


class _Throttle(FixedWindowThrottle):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()


def _allowed(scope: str, ident: str) -> bool:
    return _Throttle(scope).allow_ident(ident)


def _page(request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    shop = {"name": settings.MERCHANT_NAME}
    return render(request, f"fulfilment/{template}", {"funnel": shop, **context}, status=status)


def access_path(access: Access, *, now: dt.datetime | None = None) -> str:
    """The signed path that opens ``access``: valid for the settings' ``link_hours`` from ``now``."""
    signer = signing.TimestampSigner(salt=ACCESS_SALT)
    token = signer.sign_object({"a": str(access.public_id)})
    return reverse("library:get", args=[token])


def access_url(access: Access) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + access_path(access)


def library_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("library:home")


# --- signing in ----------------------------------------------------------------------------------------------------


def sign_in_send(*, email: str, now: dt.datetime | None = None) -> bool:
    """E-mail a one-time sign-in link to a buyer (someone with access to something); returns whether one was sent.
    The caller says the same either way, so the form does not tell who has bought."""
    now = now or timezone.now()
    lead = Lead.objects.filter(email=email, erased_at__isnull=True).first()
    if lead is None or not Access.objects.filter(lead=lead).exists() or address_undeliverable(lead.email):
        return False
    with transaction.atomic():
        entry = LibrarySignIn.objects.create(
            lead=lead, nonce=secrets.token_urlsafe(24), expires_at=now + dt.timedelta(minutes=SIGN_IN_MINUTES)
        )
    token = signing.dumps({"s": entry.nonce}, salt=SIGN_IN_SALT)
    link = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("library:sign-in", args=[token])
    greeting = f"Hi {lead.first_name}," if lead.first_name else "Hi,"
    EmailMessage(
        subject=f"Your library at {settings.MERCHANT_NAME}",
        body=(
            f"{greeting}\n\nOpen your library (everything you bought) with this link:\n{link}\n\n"
            f"It works once, for {SIGN_IN_MINUTES} minutes. If you did not ask for it, ignore this e-mail.\n"
        ),
        to=[lead.email],
    ).send()
    return True


def _sign_in_entry(token: str) -> LibrarySignIn | None:
    try:
        nonce = signing.loads(token, salt=SIGN_IN_SALT, max_age=dt.timedelta(minutes=SIGN_IN_MINUTES)).get("s")
    except (signing.BadSignature, AttributeError):
        return None
    return LibrarySignIn.objects.filter(nonce=nonce).select_related("lead").first()


@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """The buyer's library when signed in; otherwise the form that e-mails a sign-in link."""
    lead_id = request.session.get(SESSION_KEY)
    lead = Lead.objects.filter(pk=lead_id, erased_at__isnull=True).first() if lead_id else None
    if lead is not None:
        entries = library_of(lead_id=lead.pk)
        for entry in entries:
            entry["links"] = [(access, access_path(access)) for access in entry["accesses"]]
        return _page(request, "library.html", lead=lead, entries=entries)
    if request.method == "POST":
        raw = str(request.POST.get("email", ""))[:320]
        try:
            email = normalize_email(raw)
        except Exception:  # noqa: BLE001  (any reason it is not an address is said the same way)
            return _page(request, "sign_in.html", 400, error="Enter the e-mail address you bought with.", email=raw)
        if not (_allowed("library_ip", client_ip(request)) and _allowed("library_email", email)):
            return _page(request, "sign_in.html", 429, error="Too many sign-in links asked for; try again later.")
        try:
            sign_in_send(email=email)
        except (smtplib.SMTPException, OSError):
            logger.warning("a library sign-in link could not be sent", exc_info=True)
            return _page(request, "sign_in.html", 503, error="We could not send the e-mail just now; try again soon.")
        return _page(request, "sign_in.html", sent=True, email=email)
    return _page(request, "sign_in.html")


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest, token: str) -> HttpResponse:
    """A one-time link: GET asks for the click, POST uses the link and signs the buyer in."""
    entry = _sign_in_entry(token)
    now = timezone.now()
    if entry is None or entry.used_at is not None or entry.expires_at < now or entry.lead.erased_at is not None:
        return _page(request, "link_problem.html", 410, problem="sign_in")
    if request.method == "GET":
        return _page(request, "sign_in_confirm.html", token=token)
    used = LibrarySignIn.objects.filter(pk=entry.pk, used_at__isnull=True).update(used_at=now)
    if not used:
        return _page(request, "link_problem.html", 410, problem="sign_in")
    request.session.cycle_key()
    request.session[SESSION_KEY] = entry.lead_id
    return redirect("library:home")


@require_http_methods(["POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return redirect("library:home")


# --- opening what was bought ---------------------------------------------------------------------------------------


def get(request: HttpRequest, token: str) -> HttpResponse | FileResponse:
    """Open one access by its signed link: the file, the link or the text; refused with a clear page when the link
    is tampered with, expired or the access was taken back."""
    hours = fulfilment_settings().link_hours
    try:
        data = signing.TimestampSigner(salt=ACCESS_SALT).unsign_object(token, max_age=dt.timedelta(hours=hours))
    except signing.SignatureExpired:
        return _page(request, "link_problem.html", 410, problem="expired")
    except (signing.BadSignature, ValueError):
        return _page(request, "link_problem.html", 404, problem="invalid")
    public_id = data.get("a") if isinstance(data, dict) else None
    access = (
        Access.objects.filter(public_id=str(public_id))
        .select_related("deliverable", "order_line__order", "lead")
        .first()
        if isinstance(public_id, str)
        else None
    )
    if access is None or access.lead.erased_at is not None:
        return _page(request, "link_problem.html", 404, problem="invalid")
    if access.revoked_at is not None or not access.deliverable.is_active:
        return _page(request, "link_problem.html", 403, problem="revoked")
    address = client_ip(request)
    if not (_allowed("library_download", str(access.public_id)) and _allowed("library_ip", address)):
        return _page(request, "link_problem.html", 429, problem="busy")
    deliverable = access.deliverable
    if deliverable.kind == Deliverable.Kind.FILE:
        try:
            handle = deliverable.file.open("rb")
        except (OSError, ValueError):
            logger.error("deliverable %s: its file cannot be read", deliverable.pk)
            return _page(request, "link_problem.html", 503, problem="missing")
        download_record(access=access, address=address)
        name = deliverable.file.name.rsplit("/", 1)[-1]
        return FileResponse(handle, as_attachment=True, filename=name)
    download_record(access=access, address=address)
    if deliverable.kind == Deliverable.Kind.LINK:
        return HttpResponseRedirect(deliverable.url)
    text = deliverable.text.replace("{key}", access.key).replace("{order}", str(access.order_line.order_id))
    return _page(request, "text.html", deliverable=deliverable, text=text)
