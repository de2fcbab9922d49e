"""Marketers may read the reports (analytics.view_report); sales may not."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0004_sync_run_permissions"), ("analytics", "0001_initial")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
