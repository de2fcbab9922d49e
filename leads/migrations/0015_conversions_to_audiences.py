"""Conversion destinations and deliveries now belong to audiences (its migration 0013 renamed their tables and
kept their rows); leads keeps the outbox only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_undeliverable_addresses"),
        ("audiences", "0013_conversions_from_leads"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ConversionDelivery"),
                migrations.DeleteModel(name="ConversionDestination"),
            ],
        ),
    ]
