"""Sales work the pipeline (tasks, score adjustments, stage history); marketers also set its rules."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0008_spend_permissions"), ("pipeline", "0001_initial"), ("leads", "0010_pipeline_facts")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
