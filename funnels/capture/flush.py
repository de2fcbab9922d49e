"""Writing what the capture inbox holds, and e-mailing the lead magnets its opt-ins are owed."""

from __future__ import annotations

from common.tasks import enqueue_on_commit
from funnels.models import Step
from leads import inbox
from offers.models import Offer


def capture_inbox_flush() -> tuple[int, int]:
    """Write what the capture inbox holds: (events recorded, opt-ins recorded). Lead magnets owed by the new opt-ins
    are e-mailed by one task per batch, scheduled after the batch commits."""
    return inbox.events_inbox_flush(), inbox.optins_inbox_flush(recorded=_lead_magnets_owed)


def _lead_magnets_owed(recorded: list[tuple[int, int | None]]) -> None:
    step_ids = {step_id for _, step_id in recorded if step_id is not None}
    magnet_steps = set(
        Step.objects.filter(pk__in=step_ids, offer__role=Offer.Role.LEAD_MAGNET).values_list("pk", flat=True)
    )
    owed = [[lead_id, step_id] for lead_id, step_id in recorded if step_id in magnet_steps]
    if owed:  # lost to a broker outage, they are still owed: lead_magnet_sweep finds them by their opt-in events
        enqueue_on_commit("funnels.lead_magnet_emails", owed=owed)
