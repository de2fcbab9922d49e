import re

from funnels.diagram import funnel_svg
from funnels.validation import Graph, StepNode


def node(step_id, name, kind):
    return StepNode(id=step_id, name=name, kind=kind)


def test_steps_are_placed_in_columns_by_their_longest_path_from_the_entry():
    graph = Graph(
        currency="USD",
        entry_id=1,
        steps={
            1: node(1, "Opt-in", "optin"),
            2: StepNode(id=2, name="Upsell", kind="upsell", price_label="$97.00"),
            3: node(3, "Down", "downsell"),
            4: node(4, "Thanks", "thank_you"),
        },
        routes={1: {"accept": 2}, 2: {"accept": 4, "decline": 3}, 3: {"accept": 4, "decline": 4}},
    )
    svg = funnel_svg(graph)
    xs = {name: int(x) for x, name in re.findall(r'<rect x="(\d+)"[^>]*/>.*?font-weight="600"[^>]*>([^<]+)<', svg)}
    assert xs["Opt-in"] < xs["Upsell"] < xs["Down"] < xs["Thanks"]
    # Down's accept and decline both lead to Thanks: one "either" arrow instead of two drawn over each other.
    assert svg.count("marker-end=") == 4
    assert svg.count('stroke-dasharray="6 4"') == 1
    assert 'marker-end="url(#arrow-either)"' in svg
    assert "$97.00" in svg


def test_empty_funnel_says_what_to_do():
    svg = funnel_svg(Graph(currency="USD", entry_id=None, steps={}))
    assert "No steps yet" in svg
