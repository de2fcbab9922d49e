import datetime as dt

from django.db import migrations

ANCHOR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HALF_LIFE = 90
STALE_AFTER = {"New": 14, "Engaged": 14, "Qualified": 7, "Proposal": 7}


def carry_over(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Scores typed by hand become one entry each in the new score log; the settings row; the "Customer" stage
    (a tripwire buyer) and how long a lead may sit quiet in each open stage."""
    Lead = apps.get_model("leads", "Lead")
    ScoreEvent = apps.get_model("leads", "ScoreEvent")
    Stage = apps.get_model("leads", "Stage")
    ScoringSettings = apps.get_model("leads", "ScoringSettings")
    ScoringSettings.objects.get_or_create(pk=1, defaults={"half_life_days": HALF_LIFE})
    now = dt.datetime.now(dt.UTC)
    factor = 2.0 ** ((now - ANCHOR).total_seconds() / (HALF_LIFE * 86_400))
    for pk, score in Lead.objects.exclude(score=0).values_list("pk", "score").iterator(chunk_size=5000):
        ScoreEvent.objects.create(
            lead_id=pk,
            points=score,
            reason="score given before the score log",
            occurred_at=now,
            weight=score * factor,
            key=f"carried:{pk}",
        )
        Lead.objects.filter(pk=pk).update(score_base=score * factor)
    if not Stage.objects.filter(name="Customer").exists() and not Stage.objects.filter(position=35).exists():
        Stage.objects.create(name="Customer", position=35, win_probability=45, is_closed=False, stale_after_days=21)
    for name, days in STALE_AFTER.items():
        Stage.objects.filter(name=name, stale_after_days__isnull=True).update(stale_after_days=days)


class Migration(migrations.Migration):
    dependencies = [("leads", "0010_pipeline_facts")]
    operations = [migrations.RunPython(carry_over, migrations.RunPython.noop)]
