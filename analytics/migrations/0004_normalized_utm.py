"""UTM values are stored normalized (trimmed, inner blanks made one space, lower case) since this release; the
touches captured before are rewritten the same way, and when any changed, the rollups that group by source and
campaign are emptied and the cursor rewound so the maintenance folds the whole log again (``python manage.py
rollups_rebuild`` does it at once, set-based on PostgreSQL). A new install has nothing to rewrite and skips both."""

from django.db import migrations

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
DERIVED = (
    "Presence",
    "DistinctDay",
    "Exposure",
    "LineFact",
    "OrderFact",
    "SalesDay",
    "OrderDay",
    "VisitorValue",
    "Buyer",
    "CohortCell",
    "RfmCell",
    "LeadFact",
    "ChannelDay",
    "LeadSeriesDay",
    "RollupGap",
)


def _normal(value: str) -> str:
    # The rule as it stands at this migration (leads.contracts.normalize_utm), written out so later changes to the
    # code do not change what this migration did.
    return " ".join(value.split()).lower()[:200]


def normalize(apps, schema_editor):
    touch = apps.get_model("leads", "Touch")
    changed, rewritten = [], 0
    for row in touch.objects.only("pk", *UTM_FIELDS).order_by("pk").iterator(chunk_size=2000):
        before = [getattr(row, name) for name in UTM_FIELDS]
        for name, value in zip(UTM_FIELDS, before, strict=True):
            setattr(row, name, _normal(value))
        if [getattr(row, name) for name in UTM_FIELDS] != before:
            changed.append(row)
        if len(changed) == 2000:
            touch.objects.bulk_update(changed, UTM_FIELDS)
            rewritten, changed = rewritten + len(changed), []
    if changed:
        touch.objects.bulk_update(changed, UTM_FIELDS)
        rewritten += len(changed)
    if not rewritten:
        return
    for name in DERIVED:
        apps.get_model("analytics", name).objects.all().delete()
    apps.get_model("analytics", "RollupCursor").objects.filter(name="events").update(position=0)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_exchange_rate"),
        ("leads", "0009_conversions"),
    ]

    operations = [migrations.RunPython(normalize, migrations.RunPython.noop, elidable=True)]
