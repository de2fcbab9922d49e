"""Marketers may refund orders (through Stripe, from the order page); sales may not."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("staff", "0002_stripe_event_permissions"), ("offers", "0003_one_click_payments")]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
