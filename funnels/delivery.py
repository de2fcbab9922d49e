"""Lead-magnet delivery through signed, expiring links: no login, nothing guessable, nothing stored."""

from __future__ import annotations

from django.core import signing

from offers.models import Offer

LEAD_MAGNET_SALT = "ladder.lead-magnet"


def lead_magnet_token(*, lead_id: int, offer_id: int) -> str:
    return signing.TimestampSigner(salt=LEAD_MAGNET_SALT).sign(f"{lead_id}:{offer_id}")


def lead_magnet_offer(*, token: str, max_age: int) -> Offer:
    """The lead-magnet offer a signed link grants. Raises signing.SignatureExpired or signing.BadSignature."""
    value = signing.TimestampSigner(salt=LEAD_MAGNET_SALT).unsign(token, max_age=max_age)
    try:
        _, offer_id = value.split(":")
        offer = Offer.objects.filter(pk=int(offer_id), role=Offer.Role.LEAD_MAGNET).first()
    except ValueError:
        offer = None
    if offer is None:
        raise signing.BadSignature("the link names no lead magnet")
    return offer
