"""Conversion destinations and deliveries move from leads to audiences, beside the syncs, keeping their rows (the
tables are renamed); each destination then sends through a connection, shared with the audience destinations that
have the same account and credentials."""

import django.db.models.deletion
from django.db import migrations, models

import common.fields

KEY_FIELDS = ("platform", "account_id", "login_customer_id", "credentials")


def conversions_to_connections(apps, schema_editor):
    Connection = apps.get_model("audiences", "Connection")
    ConversionDestination = apps.get_model("audiences", "ConversionDestination")
    for destination in ConversionDestination.objects.order_by("pk"):
        values = {field: getattr(destination, field) for field in KEY_FIELDS}
        lookup = {field: values[field] for field in KEY_FIELDS if field != "credentials"}
        found = next((c for c in Connection.objects.filter(**lookup) if c.credentials == values["credentials"]), None)
        destination.connection = found or Connection.objects.create(name=destination.name[:200], **values)
        destination.save(update_fields=["connection"])


def connections_to_conversions(apps, schema_editor):
    ConversionDestination = apps.get_model("audiences", "ConversionDestination")
    for destination in ConversionDestination.objects.select_related("connection").order_by("pk"):
        for field in KEY_FIELDS:
            setattr(destination, field, getattr(destination.connection, field))
        destination.save()


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0012_connections"),
        ("leads", "0014_undeliverable_addresses"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ConversionDestination",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        (
                            "platform",
                            models.CharField(
                                choices=[
                                    ("meta", "Meta Conversions API"),
                                    ("google", "Google Ads conversions (Data Manager)"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "remote_id",
                            models.CharField(
                                help_text="Meta: the pixel (dataset) id. Google: the conversion action id.",
                                max_length=100,
                            ),
                        ),
                        (
                            "account_id",
                            models.CharField(
                                blank=True, help_text="Google: the Google Ads customer id.", max_length=20
                            ),
                        ),
                        (
                            "login_customer_id",
                            models.CharField(
                                blank=True,
                                help_text="Google: the manager account the credentials go through, if any.",
                                max_length=20,
                            ),
                        ),
                        (
                            "credentials",
                            common.fields.EncryptedTextField(
                                blank=True,
                                help_text="Meta: an access token for the pixel. Google: an OAuth client JSON with a refresh token. Encrypted.",
                            ),
                        ),
                        (
                            "test_event_code",
                            models.CharField(
                                blank=True,
                                help_text="Meta: send to Events Manager's Test Events under this code.",
                                max_length=50,
                            ),
                        ),
                        ("send_leads", models.BooleanField(default=True, help_text="Report opt-ins (Lead).")),
                        (
                            "send_purchases",
                            models.BooleanField(
                                default=True, help_text="Report purchases (Purchase) with their value."
                            ),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "ordering": ["name"],
                        "db_table": "leads_conversiondestination",
                    },
                ),
                migrations.CreateModel(
                    name="ConversionDelivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("sent", "Sent"),
                                    ("dropped", "Dropped"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        (
                            "reason",
                            models.CharField(
                                blank=True, help_text="Why it was dropped or failed; never identifiers.", max_length=500
                            ),
                        ),
                        (
                            "reference",
                            models.CharField(
                                blank=True, help_text="Meta's fbtrace id or Google's request id.", max_length=100
                            ),
                        ),
                        (
                            "client",
                            models.JSONField(
                                blank=True, default=dict, help_text="Cleared once the conversion is sent or dropped."
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "event",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="leads.event"
                            ),
                        ),
                        (
                            "destination",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="audiences.conversiondestination",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "db_table": "leads_conversiondelivery",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("status", "pending")),
                                fields=["destination", "next_attempt_at"],
                                name="conversion_delivery_due",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("destination", "event"), name="conversion_delivery_once")
                        ],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="conversiondestination", table=None),
        migrations.AlterModelTable(name="conversiondelivery", table=None),
        migrations.AddField(
            model_name="conversiondestination",
            name="connection",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="conversion_destinations",
                to="audiences.connection",
            ),
        ),
        migrations.RunPython(conversions_to_connections, connections_to_conversions),
        migrations.AlterField(  # a default, so that going back can add the column to existing rows
            model_name="conversiondestination",
            name="platform",
            field=models.CharField(
                choices=[("meta", "Meta Conversions API"), ("google", "Google Ads conversions (Data Manager)")],
                default="meta",
                max_length=10,
            ),
        ),
        migrations.RemoveField(model_name="conversiondestination", name="platform"),
        migrations.RemoveField(model_name="conversiondestination", name="account_id"),
        migrations.RemoveField(model_name="conversiondestination", name="login_customer_id"),
        migrations.RemoveField(model_name="conversiondestination", name="credentials"),
        migrations.AlterField(
            model_name="conversiondestination",
            name="connection",
            field=models.ForeignKey(
                help_text="The Meta or Google account reported to, and the credentials that reach it.",
                limit_choices_to={"platform__in": ("meta", "google")},
                on_delete=django.db.models.deletion.PROTECT,
                related_name="conversion_destinations",
                to="audiences.connection",
            ),
        ),
    ]
