"""Marketers keep the exchange-rate table that turns amounts in other currencies into the reporting currency."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0005_report_permissions"), ("analytics", "0003_exchange_rate")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
