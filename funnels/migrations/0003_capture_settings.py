import secrets

from django.db import migrations, models

import funnels.models


def fill_public_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    Funnel = apps.get_model("funnels", "Funnel")
    for funnel in Funnel.objects.filter(public_key__isnull=True):
        funnel.public_key = "pk_" + secrets.token_urlsafe(18)
        funnel.save(update_fields=["public_key"])


class Migration(migrations.Migration):
    dependencies = [("funnels", "0002_help_text")]

    operations = [
        migrations.AddField(
            model_name="funnel",
            name="public_key",
            field=models.CharField(max_length=40, null=True, editable=False),
        ),
        migrations.RunPython(fill_public_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="funnel",
            name="public_key",
            field=models.CharField(
                default=funnels.models.new_public_key,
                editable=False,
                help_text="Identifies this funnel to forms and beacons embedded on other sites. Not a secret.",
                max_length=40,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="funnel",
            name="allowed_origins",
            field=models.TextField(
                blank=True,
                help_text="Sites allowed to post opt-ins and events to the API, one per line, e.g. https://www.example.com.",
            ),
        ),
        migrations.AddField(
            model_name="funnel",
            name="eea_rules",
            field=models.BooleanField(
                default=True,
                help_text="Treat visitors as covered by EEA/UK rules (explicit consent) unless their country says otherwise.",
            ),
        ),
        migrations.AddField(
            model_name="step",
            name="ask_phone",
            field=models.BooleanField(default=False, help_text="Opt-in steps: show an optional phone field."),
        ),
        migrations.AddField(
            model_name="step",
            name="consent_ads_text",
            field=models.CharField(
                blank=True,
                help_text="Opt-in steps: the wording next to the ad-audiences checkbox. Empty: no checkbox.",
                max_length=300,
            ),
        ),
        migrations.AddField(
            model_name="step",
            name="consent_email_text",
            field=models.CharField(
                blank=True,
                help_text="Opt-in steps: the wording next to the marketing e-mail checkbox. Empty: no checkbox.",
                max_length=300,
            ),
        ),
    ]
