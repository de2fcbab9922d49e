"""Marketers set who gets new leads (assignment rules); sales read them."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0010_api_token_permissions"), ("pipeline", "0004_assignment")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
