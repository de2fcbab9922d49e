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
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError
from funnels import selectors, services
from funnels.capture.throttles import signup_wait
from funnels.delivery import lead_magnet_offer, lead_magnet_token
from funnels.forms import AnswerForm, CheckoutForm, OptinForm
from funnels.models import Step
from funnels.pages import page_content
from funnels.splits import variant_for
from funnels.tracking import attribution_from, client_context, visitor_cookie_set, visitor_id_from
from leads import selectors as lead_selectors
from leads.identity import CaptureInvalid
from leads.models import Consent
from offers import payments
from offers.models import Order
from offers.selectors import current_order


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


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
        "payments_enabled": payments.payments_enabled(),
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_key": settings.STRIPE_PUBLISHABLE_KEY,
        "answer_id": uuid.uuid4(),
        "notice": NOTICES.get(request.GET.get("notice", ""), ""),
    }
    if step.kind in services.PAID_STEP_KINDS and step.offer is not None and base["payments_enabled"]:
        base.update(_buying_context(visit))
    response = render(request, "funnels/step.html", {**base, **context}, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


NOTICES = {
    "declined": "Your card was declined for that offer, so it was not added and you were not charged for it.",
}


def _buying_context(visit: services.Visit) -> dict[str, Any]:
    """How this page sells: a card form (order form, or an offer once the one-click window has passed) or one
    click on the card saved at checkout."""
    step = visit.step
    lead = lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id)
    order = None
    if step.kind != Step.Kind.ORDER_FORM and lead is not None:
        order = current_order(lead_id=lead.pk, funnel_id=step.funnel_id)
    one_click = order is not None and payments.one_click_window_open(order)
    return {
        "buyer_known": lead is not None,
        "one_click": one_click,
        "card_form": not one_click,
        "checkout_form": CheckoutForm(initial={"submission_id": uuid.uuid4()}),
        "checkout_url": reverse("funnels:checkout", kwargs={"funnel_slug": step.funnel.slug, "step_slug": step.slug}),
    }


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
        client=client_context(request) if request.method == "POST" else None,
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
    wait = signup_wait(request, data["email"])
    if wait is not None:
        form.add_error(None, f"Too many sign-ups from here just now; please try again in {_minutes(wait)}.")
        response = _render(request, visit, form=form, status=429)
        response["Retry-After"] = str(wait)
        return response
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
        return _one_click(request, visit)
    try:
        target = services.step_answer(
            visit=visit, outcome=outcome, submission_id=str(form.cleaned_data["submission_id"])
        )
    except ApplicationError as refused:
        return _render(request, visit, status=400, answer_error=refused.message)
    return _go(target)


def _one_click(request: HttpRequest, visit: services.Visit) -> HttpResponse:
    """Accept on an upsell, downsell or cross-sell: charge the saved card once and follow the routes."""
    step = visit.step
    decline_label = page_content(step, visit.variant).decline_label
    if not payments.payments_enabled() or step.offer is None:
        return _render(
            request,
            visit,
            status=409,
            answer_error=f"Payments are not configured yet, so this offer cannot be bought here. "
            f"You can continue with “{decline_label}”.",
        )
    lead = lead_selectors.lead_for_visitor(visitor_id=visit.visitor_id)
    order = current_order(lead_id=lead.pk if lead else None, funnel_id=step.funnel_id)
    if order is None:
        return _render(request, visit, status=409, answer_error="Enter your card below to buy this offer.")
    try:
        result = payments.one_click_buy(order=order, offer=step.offer, origin=visit.origin)
    except ApplicationError as refused:
        return _render(request, visit, status=400, answer_error=refused.message)
    if result.outcome == "succeeded":
        if not services.step_purchase_done(step=step, order=order):
            return HttpResponseRedirect(_status_url(step, order))
        return _go(services.offer_accepted(visit=visit, order=order))
    if result.outcome == "declined":
        services.step_answer(visit=visit, outcome="decline", submission_id=f"declined:{order.pk}")
        target = selectors.next_step(step=step, outcome="decline")
        if target is None:
            raise Http404("This step leads nowhere")
        return HttpResponseRedirect(f"{_step_url(target)}?notice=declined")
    if result.outcome == "authentication_required":
        return _render(
            request,
            visit,
            confirm_secret=result.client_secret,
            confirm_payment_method=result.payment_method_id,
            confirm_next_url=_status_url(step, order),
            answer_error="Your bank asks you to confirm this payment.",
        )
    return _render(
        request, visit, status=409, answer_error="The one-click offer has expired; enter your card below instead."
    )


def _status_url(step: Step, order: Order) -> str:
    return reverse(
        "funnels:payment_status",
        kwargs={"funnel_slug": step.funnel.slug, "step_slug": step.slug, "order_id": order.public_id},
    )


def _json_errors(errors: dict[str, list[str]], status: int = 400) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


@require_POST
def checkout(request: HttpRequest, funnel_slug: str, step_slug: str) -> HttpResponse:
    """Open the payment for an order form (or an offer page past its one-click window); answers JSON for the
    page's script, which then has Stripe.js confirm the card."""
    step = selectors.live_step(funnel_slug=funnel_slug, step_slug=step_slug)
    if step is None or step.kind not in services.PAID_STEP_KINDS or step.offer is None:
        return _json_errors({"__all__": ["Nothing is sold on this page."]}, status=404)
    if not payments.payments_enabled():
        return _json_errors({"__all__": ["Payments are not configured, so this page cannot take orders."]}, 409)
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _json_errors({field: [str(m) for m in messages] for field, messages in form.errors.items()})
    data = form.cleaned_data
    wait = signup_wait(request, data.get("email") or "")
    if wait is not None:
        response = _json_errors(
            {"__all__": [f"Too many attempts just now; please try again in {_minutes(wait)}."]}, 429
        )
        response["Retry-After"] = str(wait)
        return response
    visitor_id, new_visitor = visitor_id_from(request)
    visit = services.Visit(
        step=step,
        visitor_id=visitor_id,
        variant=variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())),
        client=client_context(request),
    )
    submission_id = str(data["submission_id"])
    try:
        lead = services.buyer_for(
            visit=visit,
            submission_id=submission_id,
            email=data["email"],
            first_name=data["first_name"],
            attribution=attribution_from(request, now=timezone.now()),
        )
        started = services.checkout_begin(
            visit=visit, lead=lead, bump=data["bump"], coupon_code=data["coupon"], submission_id=submission_id
        )
    except CaptureInvalid as invalid:
        return _json_errors(invalid.errors)
    except ApplicationError as refused:
        return _json_errors({refused.field or "__all__": [refused.message]})
    response = JsonResponse(
        {
            "client_secret": started.client_secret,
            "total": str(started.total),
            "next_url": _status_url(step, started.order),
        }
    )
    response["Cache-Control"] = "no-store"
    if new_visitor:
        visitor_cookie_set(response, visitor_id)
    return response


@require_GET
def payment_status(request: HttpRequest, funnel_slug: str, step_slug: str, order_id: uuid.UUID) -> HttpResponse:
    """After the card is confirmed: "processing" until Stripe's webhook says paid, then on along the route."""
    step = selectors.live_step(funnel_slug=funnel_slug, step_slug=step_slug)
    if step is None:
        raise Http404("No such page")
    visitor_id, _ = visitor_id_from(request)
    lead = lead_selectors.lead_for_visitor(visitor_id=visitor_id)
    order = Order.objects.select_related("lead").filter(public_id=order_id, funnel_id=step.funnel_id).first()
    if order is None or lead is None or order.lead_id != lead.pk:
        raise Http404("No such order")
    visit = services.Visit(
        step=step,
        visitor_id=visitor_id,
        variant=variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())),
    )
    if services.step_purchase_done(step=step, order=order):
        if step.kind == Step.Kind.ORDER_FORM:
            return _go(selectors.next_step(step=step, outcome="accept"))
        return _go(services.offer_accepted(visit=visit, order=order))
    payments_of_step = order.payments.all()
    if step.kind == Step.Kind.ORDER_FORM:
        payments_of_step = payments_of_step.filter(offer__isnull=True)
    else:
        payments_of_step = payments_of_step.filter(offer=step.offer)
    payment = payments_of_step.order_by("-created_at").first()
    failed = payment is not None and payment.status == payment.Status.FAILED
    response = render(
        request,
        "funnels/payment_status.html",
        {"funnel": step.funnel, "step": step, "failed": failed, "payment": payment, "step_url": _step_url(step)},
    )
    response["Cache-Control"] = "private, no-store"
    return response


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
