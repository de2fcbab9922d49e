"""Marketers may read sync runs and their batches (counts and reasons, never identifiers)."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0003_refund_request_permissions"), ("audiences", "0003_sync_ledger")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
