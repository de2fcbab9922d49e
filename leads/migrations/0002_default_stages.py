from django.db import migrations

DEFAULT_STAGES = [
    ("New", 10, 5, False),
    ("Engaged", 20, 15, False),
    ("Qualified", 30, 35, False),
    ("Proposal", 40, 60, False),
    ("Won", 50, 100, True),
    ("Lost", 60, 0, True),
]


def create_stages(apps, schema_editor):  # type: ignore[no-untyped-def]
    Stage = apps.get_model("leads", "Stage")
    for name, position, win_probability, is_closed in DEFAULT_STAGES:
        Stage.objects.get_or_create(
            name=name, defaults={"position": position, "win_probability": win_probability, "is_closed": is_closed}
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]
    operations = [migrations.RunPython(create_stages, migrations.RunPython.noop)]
