"""Marketers manage what each offer delivers; both roles can see who has access and what was downloaded."""

from django.db import migrations

from staff.roles import sync_role_permissions


def sync_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0013_lead_webhook_permissions"),
        ("fulfilment", "0004_receipt_styles"),
        ("leads", "0014_undeliverable_addresses"),
    ]
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
