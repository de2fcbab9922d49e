"""Audience members keyed by (audience, lead) without database foreign keys (see AudienceMember).

Members are derived from each audience's rule, so the table is recreated rather than altered (Django cannot
turn a surrogate key into a composite one in place) and every audience is marked for a full refresh, which the
scheduled task performs on its next run.
"""

import django.db.models.deletion
from django.db import migrations, models


def refresh_everything(apps, schema_editor):
    apps.get_model("audiences", "Audience").objects.update(refreshed_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0004_sync_run_updates"),
        ("leads", "0006_suppression"),
    ]

    operations = [
        migrations.DeleteModel(name="AudienceMember"),
        migrations.CreateModel(
            name="AudienceMember",
            fields=[
                ("pk", models.CompositePrimaryKey("audience", "lead", blank=True, editable=False, serialize=False)),
                ("since", models.DateTimeField()),
                (
                    "audience",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="members",
                        to="audiences.audience",
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="audience_memberships",
                        to="leads.lead",
                    ),
                ),
            ],
            options={"indexes": [models.Index(fields=["lead"], name="audience_member_lead")]},
        ),
        migrations.RunPython(refresh_everything, migrations.RunPython.noop),
    ]
