from django.db import migrations

# (trigger, ladder role, stage name; None: back to the stage before)
STAGE_RULES = [
    ("optin", "", "New"),
    ("purchase", "tripwire", "Customer"),
    ("purchase", "core", "Won"),
    ("full_refund", "", None),
]
# (reason, event type, role, points, once per lead)
SCORE_RULES = [
    ("opted in", "optin", "", 5, True),
    ("opened the order form", "checkout_started", "", 10, False),
    ("bought the tripwire", "purchase", "tripwire", 25, False),
    ("took an order bump", "purchase", "order_bump", 5, False),
    ("bought the core product", "purchase", "core", 40, False),
    ("accepted an upsell", "upsell_accepted", "", 15, False),
    ("was refunded", "refund", "", -30, False),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    Stage = apps.get_model("leads", "Stage")
    StageRule = apps.get_model("pipeline", "StageRule")
    ScoreRule = apps.get_model("pipeline", "ScoreRule")
    PipelineSettings = apps.get_model("pipeline", "PipelineSettings")
    PipelineSettings.objects.get_or_create(pk=1)
    stages = {stage.name: stage for stage in Stage.objects.all()}
    if not StageRule.objects.exists():
        for trigger, role, name in STAGE_RULES:
            if name is None or name in stages:
                StageRule.objects.create(trigger=trigger, role=role, stage=stages.get(name) if name else None)
    if not ScoreRule.objects.exists():
        for reason, event_type, role, points, once in SCORE_RULES:
            ScoreRule.objects.create(
                reason=reason, kind="event", event_type=event_type, role=role, points=points, once_per_lead=once
            )
        ScoreRule.objects.create(reason="no activity for 30 days", kind="inactivity", inactive_days=30, points=-5)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial"), ("leads", "0011_carry_over_scores")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
