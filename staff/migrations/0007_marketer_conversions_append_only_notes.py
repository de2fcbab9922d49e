"""Marketers manage conversion destinations (and read their deliveries); notes become append-only for everyone."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0006_exchange_rate_permissions"), ("leads", "0009_conversions")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
