"""A server-rendered SVG picture of a funnel's graph: steps as boxes in columns, routes as arrows.

Steps are placed in columns by their longest distance from the entry step, so the picture reads left to
right in the order a visitor walks. Accept routes are green, decline routes red and dashed; a route that
skips columns arcs over the boxes in between. Steps with a problem get a red outline.
"""

from __future__ import annotations

from collections import defaultdict

from django.utils.html import escape

from funnels.validation import Graph

BOX_W, BOX_H = 172, 70
COL_GAP, ROW_GAP = 64, 40
MARGIN = 30
TOP_SPACE = 60  # room for arcs above the boxes

KIND_COLOURS = {
    "optin": "#e0f2fe",
    "sales": "#f1f5f9",
    "order_form": "#fef9c3",
    "upsell": "#dcfce7",
    "downsell": "#ffedd5",
    "cross_sell": "#ede9fe",
    "thank_you": "#e2e8f0",
}
KIND_LABELS = {
    "optin": "Opt-in",
    "sales": "Sales page",
    "order_form": "Order form",
    "upsell": "Upsell",
    "downsell": "Downsell",
    "cross_sell": "Cross-sell",
    "thank_you": "Thank you",
}
ACCEPT, DECLINE, EITHER = "#15803d", "#b91c1c", "#475569"
EDGE_STYLES = {  # outcome → (colour, dash pattern, label)
    "accept": (ACCEPT, "", "accept"),
    "decline": (DECLINE, "6 4", "decline"),
    "either": (EITHER, "", "either"),
}


def _columns(graph: Graph) -> dict[int, int]:
    """Longest-path depth from the entry for reachable steps (ignoring back edges); others go to the end."""
    depth: dict[int, int] = {}
    if graph.entry_id is not None and graph.entry_id in graph.steps:
        order: list[int] = []
        state: dict[int, int] = {}
        stack: list[tuple[int, bool]] = [(graph.entry_id, False)]
        while stack:  # iterative post-order: a topological order of the reachable, acyclic part
            node, done = stack.pop()
            if done:
                state[node] = 2
                order.append(node)
                continue
            if state.get(node):
                continue
            state[node] = 1
            stack.append((node, True))
            for target in graph.routes.get(node, {}).values():
                if target in graph.steps and not state.get(target):
                    stack.append((target, False))
        order.reverse()
        position = {node: i for i, node in enumerate(order)}
        depth[graph.entry_id] = 0
        for node in order:
            for target in graph.routes.get(node, {}).values():
                if target in position and position[target] > position[node]:
                    depth[target] = max(depth.get(target, 0), depth.get(node, 0) + 1)
    last = max(depth.values(), default=-1) + 1
    for step_id in graph.steps:
        depth.setdefault(step_id, last)
    return depth


def funnel_svg(graph: Graph, *, problem_steps: set[str] | None = None, figures: dict[int, str] | None = None) -> str:
    """The picture; ``figures`` (step id → a short line, e.g. visitors and conversion) is written under each box."""
    problem_steps = problem_steps or set()
    figures = figures or {}
    if not graph.steps:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="420" height="60" role="img" '
            'aria-label="Empty funnel"><text x="10" y="35" font-family="sans-serif" font-size="14" fill="#64748b">'
            "No steps yet: add an opt-in or order form step, then a thank-you step.</text></svg>"
        )
    columns = _columns(graph)
    by_column: dict[int, list[int]] = defaultdict(list)
    for step_id in graph.steps:  # graph.steps is in admin position order
        by_column[columns[step_id]].append(step_id)
    xy: dict[int, tuple[int, int]] = {}
    for column, ids in by_column.items():
        for row, step_id in enumerate(ids):
            xy[step_id] = (MARGIN + column * (BOX_W + COL_GAP), TOP_SPACE + row * (BOX_H + ROW_GAP))
    width = MARGIN * 2 + (max(by_column) + 1) * (BOX_W + COL_GAP) - COL_GAP
    height = TOP_SPACE + max(len(ids) for ids in by_column.values()) * (BOX_H + ROW_GAP) - ROW_GAP + MARGIN + 30

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="Funnel diagram" font-family="system-ui, sans-serif">',
        "<defs>",
        *(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, (colour, _, _) in EDGE_STYLES.items()
        ),
        "</defs>",
    ]
    for from_id, outcomes in sorted(graph.routes.items()):
        # Accept and decline to the same step are one arrow, so the two never draw over each other.
        merged = {"either": outcomes["accept"]} if len(set(outcomes.values())) == 1 and len(outcomes) == 2 else outcomes
        for outcome, to_id in sorted(merged.items()):
            if from_id in xy and to_id in xy:
                parts.append(_edge(xy[from_id], xy[to_id], outcome, columns[to_id] - columns[from_id]))
    for step_id, node in graph.steps.items():
        x, y = xy[step_id]
        stroke, stroke_width = ("#dc2626", 3) if node.name in problem_steps else ("#334155", 1.5)
        entry = graph.entry_id == step_id
        parts.append(
            f"<g><title>{escape(node.name)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="10" fill="{KIND_COLOURS[node.kind]}" '
            f'stroke="{stroke}" stroke-width="{stroke_width}"/>'
            f'<text x="{x + 12}" y="{y + 22}" font-size="11" fill="#475569">'
            f"{escape(KIND_LABELS[node.kind].upper())}{' · ENTRY' if entry else ''}</text>"
            f'<text x="{x + 12}" y="{y + 42}" font-size="14" font-weight="600" fill="#0f172a">'
            f"{escape(_clip(node.name, 20))}</text>"
            f'<text x="{x + 12}" y="{y + 60}" font-size="12" fill="#334155">'
            f"{escape(_clip(node.price_label, 28))}</text>"
            + (
                f'<text x="{x + 4}" y="{y + BOX_H + 15}" font-size="11" font-weight="600" fill="#1e3a8a">'
                f"{escape(_clip(figures[step_id], 34))}</text>"
                if step_id in figures
                else ""
            )
            + "</g>"
        )
    legend_y = height - 14
    parts.append(
        f'<g font-size="12"><line x1="{MARGIN}" y1="{legend_y - 4}" x2="{MARGIN + 30}" y2="{legend_y - 4}" '
        f'stroke="{ACCEPT}" stroke-width="2"/><text x="{MARGIN + 36}" y="{legend_y}" fill="#334155">accept</text>'
        f'<line x1="{MARGIN + 100}" y1="{legend_y - 4}" x2="{MARGIN + 130}" y2="{legend_y - 4}" stroke="{DECLINE}" '
        f'stroke-width="2" stroke-dasharray="5 4"/><text x="{MARGIN + 136}" y="{legend_y}" fill="#334155">decline'
        f'</text><line x1="{MARGIN + 200}" y1="{legend_y - 4}" x2="{MARGIN + 230}" y2="{legend_y - 4}" '
        f'stroke="{EITHER}" stroke-width="2"/><text x="{MARGIN + 236}" y="{legend_y}" fill="#334155">either answer'
        "</text></g>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _edge(start: tuple[int, int], end: tuple[int, int], outcome: str, span: int) -> str:
    colour, pattern, label = EDGE_STYLES[outcome]
    dash = f' stroke-dasharray="{pattern}"' if pattern else ""
    if span == 1 and start[1] == end[1]:
        x1, y1 = start[0] + BOX_W, start[1] + BOX_H // 2
        x2, y2 = end[0], end[1] + BOX_H // 2
        path = f"M{x1},{y1} L{x2},{y2}"
        label_x, label_y = (x1 + x2) // 2, y1 - 6
    elif span >= 1:
        # Arc over the boxes in between: leave from the top, come down onto the top of the target.
        x1, y1 = start[0] + BOX_W * 2 // 3, start[1]
        x2, y2 = end[0] + BOX_W // 3, end[1]
        lift = 22 + 10 * min(span, 3) + (8 if outcome == "decline" else 0)
        top = min(y1, y2) - lift
        path = f"M{x1},{y1} C{x1},{top} {x2},{top} {x2},{y2}"
        label_x, label_y = (x1 + x2) // 2, top + lift // 4 + 2
    else:
        # A backwards route (only in an invalid graph): loop under the boxes.
        x1, y1 = start[0] + BOX_W // 2, start[1] + BOX_H
        x2, y2 = end[0] + BOX_W // 2, end[1] + BOX_H
        bottom = max(y1, y2) + 30
        path = f"M{x1},{y1} C{x1},{bottom} {x2},{bottom} {x2},{y2}"
        label_x, label_y = (x1 + x2) // 2, bottom - 4
    return (
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash} marker-end="url(#arrow-{outcome})"/>'
        f'<text x="{label_x}" y="{label_y}" font-size="11" fill="{colour}" text-anchor="middle">{label}</text>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
