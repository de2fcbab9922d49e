"""Marketers connect ad accounts, read the imported campaign spend and enter the costs no platform reports."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0007_marketer_conversions_append_only_notes"), ("spend", "0001_initial")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
