"""Marketers import existing lists and read what became of each."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0011_assignment_rule_permissions"), ("leads", "0013_list_imports")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
