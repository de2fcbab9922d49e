"""Whether a funnel's graph can be published: pure functions over a snapshot of its steps and routes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from offers.models import Offer

Kind = str  # a Step.Kind value

# Which ladder roles fit the offer of each kind of step. None: the step takes no offer.
OFFER_ROLES_BY_KIND: dict[Kind, frozenset[str] | None] = {
    "optin": frozenset({"lead_magnet"}),
    "sales": frozenset({"tripwire", "core", "upsell", "downsell", "cross_sell"}),
    "order_form": frozenset({"tripwire", "core"}),
    "upsell": frozenset({"upsell", "core"}),
    "downsell": frozenset({"downsell"}),
    "cross_sell": frozenset({"cross_sell"}),
    "thank_you": None,
}
KINDS_REQUIRING_OFFER = frozenset({"order_form", "upsell", "downsell", "cross_sell"})
KINDS_WITH_DECLINE = frozenset({"upsell", "downsell", "cross_sell"})
KIND_LABELS = {
    "optin": "opt-in",
    "sales": "sales page",
    "order_form": "order form",
    "upsell": "upsell",
    "downsell": "downsell",
    "cross_sell": "cross-sell",
    "thank_you": "thank-you",
}
ROLE_LABELS = {
    "lead_magnet": "lead magnet",
    "tripwire": "tripwire",
    "core": "core",
    "upsell": "upsell",
    "downsell": "downsell",
    "cross_sell": "cross-sell",
    "order_bump": "order bump",
}


def _a(label: str) -> str:
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


@dataclass(frozen=True, kw_only=True, slots=True)
class StepNode:
    id: int
    name: str
    kind: Kind
    offer_role: str | None = None
    offer_currency: str | None = None
    offer_name: str | None = None
    bump_role: str | None = None
    bump_currency: str | None = None
    bump_name: str | None = None
    price_label: str = ""  # for the diagram: "$7.00 + bump $17.00"
    asks_email_consent: bool = True  # opt-in steps: a wording for the marketing e-mail checkbox is set
    asks_ads_consent: bool = True  # opt-in steps: a wording for the ad-audiences checkbox is set


@dataclass(frozen=True, kw_only=True, slots=True)
class Graph:
    currency: str
    entry_id: int | None
    steps: dict[int, StepNode]
    routes: dict[int, dict[str, int]] = field(default_factory=dict)  # from step id → {outcome: to step id}


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """What is wrong, and where. A blocking problem refuses publishing; a warning only informs."""

    step: str | None
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        text = f"Step “{self.step}”: {self.message}" if self.step else self.message
        return text if self.blocking else f"{text} (warning)"


def graph_problems(graph: Graph) -> list[Problem]:
    """Everything wrong with ``graph`` in a stable order: empty when it is perfect.

    Problems on the steps a visitor can reach block publishing. A step no route reaches yet (typically one
    being added to a live funnel) only gets warnings, since no visitor can see it.
    """
    if not graph.steps:
        return [Problem(step=None, message="The funnel has no steps; add an entry step and a thank-you step.")]
    problems: list[Problem] = []
    reachable: set[int] = set()
    if graph.entry_id is None or graph.entry_id not in graph.steps:
        problems.append(Problem(step=None, message="Choose the entry step where visitors start."))
    else:
        path_problems, reachable = _walk(graph, graph.entry_id)
        problems.extend(path_problems)
    for node in sorted(graph.steps.values(), key=lambda n: n.id):
        for problem in _step_problems(graph, node):
            problems.append(problem if node.id in reachable else replace(problem, blocking=False))
        if reachable and node.id not in reachable:
            problems.append(
                Problem(step=node.name, message="no route from the entry step reaches it yet.", blocking=False)
            )
    return problems


def blocking_problems(graph: Graph) -> list[Problem]:
    return [problem for problem in graph_problems(graph) if problem.blocking]


def _step_problems(graph: Graph, node: StepNode) -> Iterable[Problem]:
    allowed = OFFER_ROLES_BY_KIND[node.kind]
    kind_label = KIND_LABELS[node.kind]
    if node.kind == "optin":
        if not node.asks_email_consent and not node.asks_ads_consent:
            yield Problem(
                step=node.name,
                message="it asks for no consent: its leads could never be e-mailed or retargeted. Give the wording "
                "of the e-mail or ad-audiences checkbox (or both).",
            )
        elif not node.asks_ads_consent:
            yield Problem(
                step=node.name,
                message="it asks no ad-audience consent: its leads can never be added to ad audiences.",
                blocking=False,
            )
    if node.offer_role is None and node.kind in KINDS_REQUIRING_OFFER:
        yield Problem(step=node.name, message=f"{_a(kind_label)} step needs an offer to sell.")
    elif node.offer_role is not None:
        if allowed is None:
            yield Problem(step=node.name, message=f"{_a(kind_label)} step does not sell an offer; remove it.")
        elif node.offer_role not in allowed:
            roles = " or ".join(sorted(ROLE_LABELS[r] for r in allowed))
            yield Problem(
                step=node.name,
                message=f"offer “{node.offer_name}” is {_a(ROLE_LABELS[node.offer_role])} offer; "
                f"{_a(kind_label)} step takes {_a(roles)} offer.",
            )
        if node.offer_currency != graph.currency:
            yield Problem(
                step=node.name,
                message=f"offer “{node.offer_name}” is priced in {node.offer_currency}; the funnel sells in "
                f"{graph.currency}.",
            )
    if node.bump_role is not None:
        if node.kind != "order_form":
            yield Problem(step=node.name, message="only an order form can carry an order bump.")
        elif node.bump_role != Offer.Role.ORDER_BUMP:
            yield Problem(step=node.name, message=f"bump offer “{node.bump_name}” is not an order-bump offer.")
        if node.bump_currency != graph.currency:
            yield Problem(
                step=node.name,
                message=f"bump offer “{node.bump_name}” is priced in {node.bump_currency}; the funnel sells in "
                f"{graph.currency}.",
            )
    outcomes = graph.routes.get(node.id, {})
    for outcome, target in sorted(outcomes.items()):
        if target not in graph.steps:
            yield Problem(step=node.name, message=f"its {outcome} route leads to a step of another funnel.")
    if node.kind == "thank_you":
        if outcomes:
            yield Problem(step=node.name, message="a thank-you step ends the funnel; remove its routes.")
        return
    if "accept" not in outcomes:
        yield Problem(step=node.name, message="it has no accept route, so visitors would be stuck here.")
    if node.kind in KINDS_WITH_DECLINE and "decline" not in outcomes:
        yield Problem(step=node.name, message="it has no decline route for visitors who say no.")
    if node.kind not in KINDS_WITH_DECLINE and "decline" in outcomes:
        yield Problem(step=node.name, message=f"{_a(kind_label)} step has no decline button; remove its decline route.")


def _walk(graph: Graph, entry_id: int) -> tuple[list[Problem], set[int]]:
    """Loops on the paths from the entry step, and the set of steps those paths reach."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph.steps, white)
    reported_cycles: set[frozenset[int]] = set()
    problems: list[Problem] = []

    # Iterative depth-first search, so a long funnel cannot hit Python's recursion limit.
    stack: list[tuple[int, list[int]]] = [(entry_id, [entry_id])]
    while stack:
        node_id, path = stack.pop()
        if colour[node_id] == black:
            continue
        if colour[node_id] == grey:
            colour[node_id] = black
            continue
        colour[node_id] = grey
        stack.append((node_id, path))
        for outcome, target in sorted(graph.routes.get(node_id, {}).items(), reverse=True):
            if target not in graph.steps:
                continue
            if colour[target] == grey and target in path:
                loop = path[path.index(target) :]
                if frozenset(loop) not in reported_cycles:
                    reported_cycles.add(frozenset(loop))
                    names = " → ".join(graph.steps[s].name for s in [*loop, target])
                    problems.append(
                        Problem(
                            step=graph.steps[node_id].name,
                            message=f"its {outcome} route makes a loop ({names}); every path must move forward.",
                        )
                    )
            elif colour[target] == white:
                stack.append((target, [*path, target]))
    return problems, {step_id for step_id, state in colour.items() if state != white}
