"""The pipeline pages in the admin: the board (stage columns; drag a card, or pick a stage from its menu) and
"my day" (tasks due and stale leads)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from funnels.models import Funnel
from leads.models import Lead, Stage, Tag
from leads.pipeline import leads_stage_move
from pipeline import selectors

FLOW_DAYS = 90


@permission_required("leads.view_lead", raise_exception=True)
def board(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        filters = selectors.board_filters(request.GET)
        error: dict[str, str] = {}
    except selectors.FilterInvalid as invalid:
        filters, error = selectors.BoardFilters(), invalid.errors
    columns = selectors.board(filters, user_id=request.user.pk, now=now)
    context = {
        **admin.site.each_context(request),
        "title": "Pipeline",
        "columns": columns,
        "filters": filters,
        "keep": filters.query(),
        "errors": error,
        "owners": selectors.owners(),
        "funnels": list(Funnel.objects.order_by("name").values_list("pk", "name")),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)),
        "stages": list(Stage.objects.order_by("position")),
        "can_move": request.user.has_perm("leads.change_lead"),
        "total": sum(column.count for column in columns),
    }
    return render(request, "pipeline/board.html", context, status=400 if error else 200)


def _problems(request: HttpRequest) -> tuple[Lead | None, Stage | None, dict[str, str]]:
    errors: dict[str, str] = {}
    lead = stage = None
    raw_lead, raw_stage = request.POST.get("lead", ""), request.POST.get("stage", "")
    if not raw_lead.isdigit():
        errors["lead"] = "Name the lead to move."
    else:
        lead = Lead.objects.filter(pk=int(raw_lead), erased_at__isnull=True).first()
        if lead is None:
            errors["lead"] = "That lead does not exist (or was erased)."
    if not raw_stage.isdigit():
        errors["stage"] = "Choose the stage to move the lead to."
    else:
        stage = Stage.objects.filter(pk=int(raw_stage)).first()
        if stage is None:
            errors["stage"] = "That stage does not exist."
    return lead, stage, errors


@require_POST
@permission_required("leads.change_lead", raise_exception=True)
def move(request: HttpRequest) -> HttpResponse:
    """Move one lead to a stage: JSON for the board's script, a redirect back for the plain form."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    lead, stage, errors = _problems(request)
    if errors or lead is None or stage is None:
        if wants_json:
            return JsonResponse({"detail": "The move was refused.", "fields": errors}, status=400)
        for message in errors.values():
            messages.error(request, message)
        return HttpResponseRedirect(_back(request))
    before = lead.stage
    moved = leads_stage_move(
        leads=Lead.objects.filter(pk=lead.pk), to_stage=stage, by_id=request.user.pk, reason="on the board"
    )
    if wants_json:
        return JsonResponse({"lead": lead.pk, "from": before.pk if before else None, "to": stage.pk, "moved": moved})
    if moved:
        messages.success(request, f"{lead.full_name or lead.email} moved from {before or 'no stage'} to {stage}.")
    return HttpResponseRedirect(_back(request))


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("pipeline-board")


@permission_required("leads.view_lead", raise_exception=True)
def flow(request: HttpRequest) -> HttpResponse:
    """Stage flow over the last FLOW_DAYS days: a page of its own, as it reads the period's stage history."""
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "title": f"Stage flow, last {FLOW_DAYS} days",
        "flow": selectors.stage_flow(since=now - dt.timedelta(days=FLOW_DAYS), until=now),
        "flow_days": FLOW_DAYS,
    }
    return render(request, "pipeline/flow.html", context)


@permission_required("leads.view_lead", raise_exception=True)
def my_day(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "My day",
        **selectors.my_day(user_id=int(request.user.pk or 0)),
        "now": timezone.now(),
    }
    return render(request, "pipeline/my_day.html", context)
