"""Each member as a platform's upload row: identifiers normalized and hashed, with the predicted value for a
value-based destination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Value

from analytics.models import CustomerValue
from audiences.models import Connection
from audiences.sync.platforms import platform_named
from common.money import currency_exponent
from integrations.audience_upload import UploadRow
from integrations.meta import audiences as meta_audiences
from integrations.protocols import Hasher, Person
from leads.models import Lead

IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name", "city", "region", "postal_code", "country")


def hasher_for(platform: str) -> Hasher:
    """Each platform normalizes and hashes in its own way (its registry entry says how)."""
    return platform_named(platform).hasher()


def lead_hashes(lead: Lead, *, platform: str = Connection.Platform.META) -> dict[str, str]:
    fields = {field: getattr(lead, field) for field in IDENTITY_FIELDS}
    return hasher_for(platform).hashes(Person(**fields, phone_is_stored=True, external_id=str(lead.public_id)))


def upload_rows(
    leads: QuerySet[Lead], *, platform: str = "meta", chunk_size: int = 5000, value_currency: str = ""
) -> Iterator[UploadRow]:
    """Each lead's upload row, streamed (a server-side cursor on PostgreSQL) as plain values, not model objects.

    With ``value_currency`` (a value-based destination) each row also carries the lead's predicted lifetime value in
    that currency, in major units to two significant digits (0 without a prediction) under ``LOOKALIKE_VALUE``: the
    platform ranks people by it, and the rounding keeps a nightly refit's small changes from resending everyone."""
    hasher = hasher_for(platform)
    values = leads.annotate(
        predicted=Subquery(
            CustomerValue.objects.filter(lead_id=OuterRef("pk"), currency=value_currency).values(
                "predicted_value_minor"
            )[:1]
        )
        if value_currency
        else Value(None, output_field=BigIntegerField())
    )
    exponent = currency_exponent(value_currency) if value_currency else 0
    columns = values.values_list("pk", "public_id", *IDENTITY_FIELDS, "predicted")
    for (
        pk, public_id, email, phone, first_name, last_name, city, region, postal_code, country, predicted,
    ) in columns.iterator(chunk_size=chunk_size):  # fmt: skip
        hashes = hasher.hashes(
            Person(
                email=email,
                phone=phone,
                first_name=first_name,
                last_name=last_name,
                city=city,
                region=region,
                postal_code=postal_code,
                country=country,
                phone_is_stored=True,
                external_id=str(public_id),
            )
        )
        if value_currency:
            hashes[meta_audiences.VALUE] = _two_digits(max(predicted or 0, 0) / 10**exponent)
        yield UploadRow(key=str(pk), hashes=hashes)


def _two_digits(amount: float) -> str:
    """An amount to two significant digits, as text: 1234.5 → "1200", 0.987 → "0.99", 0 → "0"."""
    return "0" if amount <= 0 else f"{float(f'{amount:.2g}'):g}"


def chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def with_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each item, and whether it is the last one (one item read ahead)."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True
