"""The hosted funnel pages at /f/<funnel>/<step>/. Thin: parse, call a service, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from common.errors import ApplicationError
from funnels import selectors, services
from funnels.delivery import lead_magnet_offer, lead_magnet_token
from funnels.forms import AnswerForm, OptinForm
from funnels.models import Step
from funnels.pages import page_content
from funnels.splits import variant_for
from funnels.tracking import attribution_from, visitor_cookie_set, visitor_id_from
from leads import selectors as lead_selectors
from leads.models import Consent
from leads.services import CaptureInvalid


def _step_url(step: Step) -> str:
    return reverse("funnels:step", kwargs={"funnel_slug": step.funnel.slug, "step_slug": step.slug})


def _render(request: HttpRequest, visit: services.Visit, *, status: int = 200, **context: Any) -> HttpResponse:
    step = visit.step
    base = {
        "funnel": step.funnel,
        "step": step,
        "content": page_content(step, visit.variant),
        "offer": step.offer,
        "bump": step.bump_offer,
        "payments_enabled": bool(getattr(settings, "STRIPE_SECRET_KEY", "")),
        "answer_id": uuid.uuid4(),
    }
    response = render(request, "funnels/step.html", {**base, **context}, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def funnel_entry(request: HttpRequest, funnel_slug: str) -> HttpResponse:
    funnel = selectors.live_funnel(funnel_slug=funnel_slug)
    if funnel is None or funnel.entry_step is None:
        raise Http404("No such funnel")
    target = reverse("funnels:step", kwargs={"funnel_slug": funnel.slug, "step_slug": funnel.entry_step.slug})
    query = request.META.get("QUERY_STRING", "")
    return HttpResponseRedirect(f"{target}?{query}" if query else target)


@require_http_methods(["GET", "POST"])
def step_page(request: HttpRequest, funnel_slug: str, step_slug: str) -> HttpResponse:
    step = selectors.live_step(funnel_slug=funnel_slug, step_slug=step_slug)
    if step is None:
        raise Http404("No such page")
    visitor_id, new_visitor = visitor_id_from(request)
    visit = services.Visit(
        step=step,
        visitor_id=visitor_id,
        variant=variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())),
    )
    if request.method == "POST" and step.kind == Step.Kind.THANK_YOU:
        return HttpResponseNotAllowed(["GET"])  # nothing to answer on a thank-you page
    if request.method == "POST":
        response = _optin_post(request, visit) if step.kind == Step.Kind.OPTIN else _answer_post(request, visit)
    else:
        services.page_view_record(
            visit=visit, attribution=attribution_from(request, now=timezone.now()), first_visit=new_visitor
        )
        response = _render(
            request,
            visit,
            form=OptinForm(step=step) if step.kind == Step.Kind.OPTIN else None,
            download_url=_download_url(visit),
        )
    if new_visitor:
        visitor_cookie_set(response, visitor_id)
    return response


def _optin_post(request: HttpRequest, visit: services.Visit) -> HttpResponse:
    form = OptinForm(request.POST, step=visit.step)
    if not form.is_valid():
        return _render(request, visit, form=form, status=400)
    data = form.cleaned_data
    try:
        services.funnel_optin(
            visit=visit,
            submission_id=str(data["submission_id"]),
            email=data["email"],
            first_name=data.get("first_name", ""),
            phone=data.get("phone", ""),
            consents={
                purpose: bool(data.get(field))
                for purpose, field in (
                    (Consent.Purpose.MARKETING_EMAIL, "consent_email"),
                    (Consent.Purpose.AD_AUDIENCES, "consent_ads"),
                )
                if field in form.fields
            },
            attribution=attribution_from(request, now=timezone.now()),
        )
    except CaptureInvalid as invalid:
        for field, messages in invalid.errors.items():
            form.add_error(field if field in form.fields else None, messages)
        return _render(request, visit, form=form, status=400)
    except ApplicationError as refused:
        form.add_error(refused.field if refused.field in form.fields else None, refused.message)
        return _render(request, visit, form=form, status=400)
    return _go(selectors.next_step(step=visit.step, outcome="accept"))


def _answer_post(request: HttpRequest, visit: services.Visit) -> HttpResponse:
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _render(request, visit, status=400, answer_error="Please choose one of the buttons.")
    outcome = form.cleaned_data["outcome"]
    if outcome == "accept" and visit.step.kind != Step.Kind.SALES:
        # Charging is the payments module's job; without it an offer cannot be bought here.
        return _render(
            request,
            visit,
            status=409,
            answer_error="Payments are not configured yet, so this offer "
            "cannot be bought here. You can continue with “"
            + page_content(visit.step, visit.variant).decline_label
            + "”.",
        )
    try:
        target = services.step_answer(
            visit=visit, outcome=outcome, submission_id=str(form.cleaned_data["submission_id"])
        )
    except ApplicationError as refused:
        return _render(request, visit, status=400, answer_error=refused.message)
    return _go(target)


def _go(step: Step | None) -> HttpResponse:
    if step is None:
        raise Http404("This step leads nowhere")
    return HttpResponseRedirect(_step_url(step))


def _download_url(visit: services.Visit) -> str:
    """On the thank-you page: a signed link to the lead magnet the visitor opted in for, if any."""
    if visit.step.kind != Step.Kind.THANK_YOU:
        return ""
    lead = lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id)
    magnet = selectors.funnel_lead_magnet(funnel=visit.step.funnel)
    if lead is None or magnet is None:
        return ""
    token = lead_magnet_token(lead_id=lead.pk, offer_id=magnet.pk)
    return reverse("funnels:lead_magnet", kwargs={"funnel_slug": visit.step.funnel.slug, "token": token})


@require_GET
def lead_magnet(request: HttpRequest, funnel_slug: str, token: str) -> HttpResponseBase:
    funnel = selectors.live_funnel(funnel_slug=funnel_slug)
    if funnel is None:
        raise Http404("No such funnel")
    try:
        offer = lead_magnet_offer(token=token, max_age=settings.LEAD_MAGNET_LINK_MAX_AGE)
    except signing.SignatureExpired:
        return render(request, "funnels/link_expired.html", {"funnel": funnel}, status=410)
    except signing.BadSignature:
        raise Http404("This download link is not valid") from None
    if offer.asset_file:
        return FileResponse(
            offer.asset_file.open("rb"), as_attachment=True, filename=offer.asset_file.name.rsplit("/", 1)[-1]
        )
    if offer.asset_url:
        return HttpResponseRedirect(offer.asset_url)
    raise Http404("This lead magnet has no file or link yet")
