"""Marketers may read stored Stripe events; sales may not (payment internals)."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0001_roles"), ("offers", "0002_stripe_events")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
