"""Receiving Stripe webhooks: each verified event is stored once (unique id) and handed to a task."""

from __future__ import annotations

from django.db import transaction

from common.db import insert_ignoring_conflicts
from common.tasks import enqueue_on_commit
from integrations.stripe.webhooks import VerifiedEvent
from offers import tasks
from offers.models import StripeEvent


def stripe_event_receive(*, event: VerifiedEvent) -> bool:
    """Store a verified event unless its id is known; schedule its processing. Returns True when it was new."""
    with transaction.atomic():
        inserted = insert_ignoring_conflicts(
            [StripeEvent(stripe_event_id=event.id, type=event.type, livemode=event.livemode, payload=event.payload)],
            conflict_fields=["stripe_event_id"],
        )
        if inserted:
            pk = inserted[0]
            enqueue_on_commit(tasks.stripe_event_process, stripe_event_pk=pk)
    return bool(inserted)
