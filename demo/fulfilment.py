"""What the demo's offers deliver (files, links, text), and the buyers' access and receipts made from the payment
history by the same fulfilment the webhook drives. Receipts go to the demo's mail backend (files under var/mail/)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.base import ContentFile

from fulfilment.emails import emails_send
from fulfilment.models import Deliverable
from fulfilment.services import fulfilment_catch_up
from offers.models import Offer

HOOKS = ("Stop scrolling", "Still paying too much per lead?", "Three ads, one winner", "The 7-day test")


def _swipe_file() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "platform", "hook", "why it works"])
    for number in range(1, 121):
        platform = ("Facebook", "Instagram", "Google Search", "YouTube")[number % 4]
        writer.writerow([number, platform, HOOKS[number % len(HOOKS)], "A specific promise, then proof."])
    return out.getvalue().encode()


TEMPLATES = b"""Ad copy templates

1. [Audience], still [pain]? [Product] gets you [result] in [time].
2. We tested [number] ads so you do not have to. Here is what won.
3. [Result] without [sacrifice]: see how [customer] did it.
"""

DELIVERABLES: dict[str, list[tuple[str, str, Any]]] = {  # offer slug -> (title, kind, (name, make) | url | text)
    "swipe-file-7": [("Ad Swipe File (CSV, 120 ads)", "file", ("ad-swipe-file.csv", _swipe_file))],
    "copy-templates-17": [("Ad Copy Templates", "file", ("ad-copy-templates.txt", lambda: TEMPLATES))],
    "ads-mastery-97": [
        ("Course platform", "link", "https://courses.example.com/ads-mastery"),
        ("Your course licence", "text", "Your licence key: {key}\nUse it to activate the course app (order {order})."),
    ],
    "ads-mastery-lite-47": [("Course platform (self-paced)", "link", "https://courses.example.com/ads-mastery-lite")],
    "account-audit-197": [
        ("Book your audit call", "text", "Book your call at https://calendar.example.com/audit and quote {key}."),
    ],
    "ads-workshop-147": [("Workshop joining link", "link", "https://meet.example.com/ads-workshop")],
    "ads-workshop-recording-47": [("Workshop recording", "link", "https://videos.example.com/workshop")],
}


def ensure_demo_fulfilment() -> int:
    """The deliverables once, then every paid line's access and every receipt and refund confirmation, sent.
    Returns how many e-mails were sent now."""
    offers = {offer.slug: offer for offer in Offer.objects.filter(slug__in=list(DELIVERABLES))}
    for slug, items in DELIVERABLES.items():
        offer = offers.get(slug)
        if offer is None or Deliverable.objects.filter(offer=offer).exists():
            continue
        for position, (title, kind, content) in enumerate(items):
            deliverable = Deliverable(offer=offer, title=title, kind=kind, position=position)
            if kind == "file":
                name, make = content
                deliverable.file.save(name, ContentFile(make()))  # stores the file, then the row
            elif kind == "link":
                deliverable.url = str(content)
                deliverable.save()
            else:
                deliverable.text = str(content)
                deliverable.save()
    fulfilment_catch_up()
    sent = 0
    while True:
        batch = emails_send(limit=500)
        sent += batch
        if batch == 0:
            return sent
