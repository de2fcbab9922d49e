"""Marketers set up lead webhooks and read their deliveries."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0012_list_import_permissions"), ("pipeline", "0008_lead_webhooks")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
