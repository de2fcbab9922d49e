"""Writes for funnels: publishing, unpublishing, cloning."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from funnels.models import Funnel, Route, Step, Variant
from funnels.selectors import funnel_graph
from funnels.validation import Problem, blocking_problems, graph_problems


class FunnelInvalid(ApplicationError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def funnel_problems(*, funnel: Funnel) -> list[Problem]:
    """Blocking problems and warnings, for showing to the marketer."""
    return graph_problems(funnel_graph(funnel=funnel))


def funnel_blocking_problems(*, funnel: Funnel) -> list[Problem]:
    return blocking_problems(funnel_graph(funnel=funnel))


@transaction.atomic
def funnel_publish(*, funnel: Funnel) -> Funnel:
    """Make the funnel live. Refused (FunnelInvalid, nothing changed) when its graph has any problem."""
    locked = Funnel.objects.select_for_update().get(pk=funnel.pk)
    problems = funnel_blocking_problems(funnel=locked)
    if problems:
        raise FunnelInvalid(problems)
    locked.status = Funnel.Status.LIVE
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at", "updated_at"])
    return locked


@transaction.atomic
def funnel_unpublish(*, funnel: Funnel) -> Funnel:
    Funnel.objects.filter(pk=funnel.pk).update(status=Funnel.Status.DRAFT, updated_at=timezone.now())
    funnel.refresh_from_db()
    return funnel


def _free_slug(base: str) -> str:
    taken = set(Funnel.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    for n in range(1, 10_000):
        candidate = f"{base}-copy" if n == 1 else f"{base}-copy-{n}"
        if candidate not in taken:
            return candidate[:100]
    raise ApplicationError(f"Too many copies of {base!r}; rename some first.")


@transaction.atomic
def funnel_clone(*, funnel: Funnel) -> Funnel:
    """A draft copy with the same steps, routes and variants, under a free ``<slug>-copy[-n]`` slug."""
    copy = Funnel.objects.create(
        name=f"{funnel.name} (copy)",
        slug=_free_slug(funnel.slug),
        currency=funnel.currency,
        default_country=funnel.default_country,
    )
    step_map: dict[int, Step] = {}
    for step in Step.objects.filter(funnel=funnel).order_by("position", "id"):
        old_id = step.pk
        step.pk = None
        step.funnel = copy
        step.save()
        step_map[old_id] = step
    Route.objects.bulk_create(
        Route(funnel=copy, from_step=step_map[r.from_step_id], outcome=r.outcome, to_step=step_map[r.to_step_id])
        for r in Route.objects.filter(funnel=funnel)
    )
    variants = list(Variant.objects.filter(step__funnel=funnel))
    for variant in variants:
        variant.pk = None
        variant.step = step_map[variant.step_id]
    Variant.objects.bulk_create(variants)
    if funnel.entry_step_id in step_map:
        copy.entry_step = step_map[funnel.entry_step_id]
        copy.save(update_fields=["entry_step"])
    return copy
