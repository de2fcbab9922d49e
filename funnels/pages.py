"""What a funnel page shows: the step's content with its split-test variant applied."""

from __future__ import annotations

from dataclasses import dataclass

from funnels.models import Step, Variant


@dataclass(frozen=True, kw_only=True, slots=True)
class PageContent:
    headline: str
    body: str
    bullets: list[str]
    accept_label: str
    decline_label: str


DEFAULT_ACCEPT = {
    "optin": "Send it to me",
    "sales": "Yes, I want it",
    "order_form": "Complete my order",
    "upsell": "Yes, add this to my order",
    "downsell": "Yes, add this to my order",
    "cross_sell": "Yes, add this to my order",
    "thank_you": "",
}


def page_content(step: Step, variant: Variant | None) -> PageContent:
    """The step's content; a variant's non-empty fields replace the step's."""

    def pick(field: str) -> str:
        override = getattr(variant, field, "") if variant else ""
        return override or getattr(step, field)

    bullets = pick("bullets")
    return PageContent(
        headline=pick("headline") or step.name,
        body=pick("body"),
        bullets=[line.strip() for line in bullets.splitlines() if line.strip()],
        accept_label=pick("accept_label") or DEFAULT_ACCEPT[step.kind],
        decline_label=pick("decline_label") or "No thanks",
    )
