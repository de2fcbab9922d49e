"""Sales and marketers make and revoke their own API tokens."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0009_pipeline_permissions"), ("pipeline", "0003_api_tokens")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
