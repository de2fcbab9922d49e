"""Connections: the account and credentials every destination sends through, made from the destinations' own
fields (destinations with the same platform, account and credentials share one), which then go."""

import django.db.models.deletion
from django.db import migrations, models

import common.fields

KEY_FIELDS = ("platform", "account_id", "login_customer_id", "google_api", "endpoint_url", "credentials")


def connection_for(Connection, values, *, name, wait_until=None):
    """The connection with these values (the credentials compared decrypted), made if there is none."""
    lookup = {field: values[field] for field in KEY_FIELDS if field != "credentials"}
    found = next((c for c in Connection.objects.filter(**lookup) if c.credentials == values["credentials"]), None)
    if found is None:
        found = Connection.objects.create(name=name[:200], **values)
    if wait_until is not None and (found.wait_until is None or found.wait_until < wait_until):
        found.wait_until = wait_until
        found.save(update_fields=["wait_until"])
    return found


def destinations_to_connections(apps, schema_editor):
    Connection = apps.get_model("audiences", "Connection")
    Destination = apps.get_model("audiences", "Destination")
    for destination in Destination.objects.order_by("pk"):
        values = {field: getattr(destination, field) for field in KEY_FIELDS}
        destination.connection = connection_for(
            Connection, values, name=destination.name, wait_until=destination.wait_until
        )
        destination.save(update_fields=["connection"])


def connections_to_destinations(apps, schema_editor):
    Destination = apps.get_model("audiences", "Destination")
    for destination in Destination.objects.select_related("connection").order_by("pk"):
        for field in KEY_FIELDS:
            setattr(destination, field, getattr(destination.connection, field))
        destination.wait_until = destination.connection.wait_until
        destination.save()


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0011_destination_value_based"),
    ]

    operations = [
        migrations.CreateModel(
            name="Connection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                (
                    "platform",
                    models.CharField(
                        choices=[
                            ("sandbox", "Sandbox (records what would be sent)"),
                            ("meta", "Meta"),
                            ("google", "Google Ads"),
                            ("webhook", "Signed webhook"),
                        ],
                        default="sandbox",
                        max_length=10,
                    ),
                ),
                (
                    "account_id",
                    models.CharField(
                        blank=True,
                        help_text="Meta: the ad account, e.g. act_1234567890 (audiences need it). Google: the customer id.",
                        max_length=100,
                    ),
                ),
                (
                    "login_customer_id",
                    models.CharField(
                        blank=True,
                        help_text="Google: the manager account the credentials reach the ad account through, if any.",
                        max_length=20,
                    ),
                ),
                (
                    "google_api",
                    models.CharField(
                        choices=[
                            ("data_manager", "Data Manager API (required for new integrations)"),
                            ("google_ads", "Google Ads API (developer tokens already allowlisted for Customer Match)"),
                        ],
                        default="data_manager",
                        help_text="Google: which API customer lists are kept through. The Google Ads API needs a developer token.",
                        max_length=12,
                    ),
                ),
                (
                    "endpoint_url",
                    models.URLField(
                        blank=True, help_text="Signed webhook: where batches are POSTed (https).", max_length=500
                    ),
                ),
                (
                    "credentials",
                    common.fields.EncryptedTextField(
                        blank=True,
                        help_text="Meta: an access token. Google: an OAuth client JSON with a refresh token. Signed webhook: the signing secret. Encrypted, never shown again.",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, help_text="Switched off: nothing is sent through it.")),
                (
                    "paused_reason",
                    models.CharField(
                        blank=True,
                        editable=False,
                        help_text="Why sending stopped until a person acts, in the platform's words (refused credentials, terms).",
                        max_length=500,
                    ),
                ),
                (
                    "wait_until",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="The platform asked to wait (a rate limit, an outage).",
                        null=True,
                    ),
                ),
                (
                    "failures",
                    models.PositiveIntegerField(
                        default=0,
                        editable=False,
                        help_text="Transient failures in a row: the next wait doubles with each.",
                    ),
                ),
                (
                    "checked_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="When the credentials last reached the account.",
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="destination",
            name="connection",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="destinations",
                to="audiences.connection",
            ),
        ),
        # before the data, so that going back puts the data back before the old constraint returns
        migrations.RemoveConstraint(model_name="destination", name="destination_unique_account"),
        migrations.RunPython(destinations_to_connections, connections_to_destinations),
        migrations.RemoveField(model_name="destination", name="account_id"),
        migrations.RemoveField(model_name="destination", name="credentials"),
        migrations.RemoveField(model_name="destination", name="endpoint_url"),
        migrations.RemoveField(model_name="destination", name="google_api"),
        migrations.RemoveField(model_name="destination", name="login_customer_id"),
        migrations.RemoveField(model_name="destination", name="platform"),
        migrations.RemoveField(model_name="destination", name="wait_until"),
        migrations.AlterField(
            model_name="destination",
            name="connection",
            field=models.ForeignKey(
                help_text="The account the audience is kept at, and the credentials that reach it.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="destinations",
                to="audiences.connection",
            ),
        ),
        migrations.AddConstraint(
            model_name="destination",
            constraint=models.UniqueConstraint(fields=("audience", "connection"), name="destination_once_a_connection"),
        ),
    ]
