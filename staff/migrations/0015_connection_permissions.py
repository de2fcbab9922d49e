"""Marketers manage the connections audiences and conversions are sent through; the conversion destinations they
managed moved from leads to audiences with the same permissions."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0014_fulfilment_permissions"),
        ("audiences", "0013_conversions_from_leads"),
        ("leads", "0015_conversions_to_audiences"),
    ]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
