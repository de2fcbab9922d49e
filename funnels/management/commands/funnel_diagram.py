from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnels import selectors
from funnels.diagram import funnel_svg
from funnels.models import Funnel
from funnels.validation import blocking_problems


class Command(BaseCommand):
    help = "Print a funnel's diagram as SVG (e.g. `manage.py funnel_diagram ebook > ebook.svg`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The funnel's slug, as in /f/<slug>/.")

    def handle(self, *args: Any, **options: Any) -> None:
        funnel = Funnel.objects.filter(slug=options["slug"]).first()
        if funnel is None:
            known = ", ".join(Funnel.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No funnel with slug {options['slug']!r}; known slugs: {known}.")
        graph = selectors.funnel_graph(funnel=funnel)
        problem_steps = {p.step for p in blocking_problems(graph) if p.step}
        self.stdout.write(funnel_svg(graph, problem_steps=problem_steps))
