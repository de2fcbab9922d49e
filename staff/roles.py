"""The two staff roles and exactly which model permissions each holds. Admin and API enforce them server-side."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions

ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

# (app label, model name) → actions
MARKETER: dict[tuple[str, str], tuple[str, ...]] = {
    ("funnels", "funnel"): ALL,
    ("funnels", "step"): ALL,
    ("funnels", "route"): ALL,
    ("funnels", "variant"): ALL,
    ("offers", "product"): ALL,
    ("offers", "offer"): ALL,
    ("offers", "coupon"): ALL,
    ("offers", "couponredemption"): VIEW,
    ("offers", "order"): VIEW,
    ("offers", "orderline"): VIEW,
    ("offers", "payment"): VIEW,
    ("offers", "refund"): VIEW,
    ("offers", "stripeevent"): VIEW,
    ("offers", "refundrequest"): ("add", "view"),
    ("audiences", "audience"): ALL,
    ("audiences", "destination"): ALL,
    ("audiences", "syncrun"): VIEW,
    ("audiences", "syncbatch"): VIEW,
    ("leads", "lead"): ALL,
    ("leads", "touch"): VIEW,
    ("leads", "consent"): ("add", "view"),
    ("leads", "event"): VIEW,
    ("leads", "note"): ("add", "view"),  # notes are append-only
    ("leads", "tag"): ALL,
    ("leads", "stage"): VIEW,
    ("audiences", "connection"): ALL,  # the accounts audiences and conversions are sent to
    ("audiences", "conversiondestination"): ALL,  # server-side conversions, as the README says
    ("audiences", "conversiondelivery"): VIEW,
    ("analytics", "report"): VIEW,  # analytics.view_report: the dashboard, the report pages and the reports API
    ("analytics", "exchangerate"): ALL,
    ("spend", "adaccount"): ALL,
    ("spend", "campaignday"): VIEW,
    ("spend", "othercost"): ALL,
    ("spend", "spendimport"): VIEW,
    ("leads", "task"): ALL,
    ("leads", "scoreevent"): ("add", "view"),  # the score log is append-only
    ("leads", "stagemove"): VIEW,  # the stage history is written by moves, never edited
    ("leads", "scoringsettings"): ("change", "view"),
    ("pipeline", "scorerule"): ALL,
    ("pipeline", "fitrule"): ALL,
    ("pipeline", "stagerule"): ALL,
    ("pipeline", "pipelinesettings"): ("change", "view"),
    ("pipeline", "apitoken"): ("add", "delete", "view"),  # their own: make, revoke
    ("pipeline", "assignmentrule"): ALL,
    ("leads", "leadimport"): ("add", "view"),  # an import is a record of what was done: never edited or removed
    ("leads", "importproblem"): VIEW,
    ("pipeline", "leadwebhook"): ALL,
    ("pipeline", "hookdelivery"): VIEW,
    ("fulfilment", "deliverable"): ALL,
    ("fulfilment", "access"): VIEW,
    ("fulfilment", "download"): VIEW,
    ("fulfilment", "fulfilmentsettings"): ("change", "view"),
    ("fulfilment", "buyeremail"): ("change", "view"),  # change: send one again
    ("leads", "undeliverableaddress"): ("delete", "view"),  # delete: let mail go to it again
    ("fulfilment", "receiptstyle"): ALL,
}

SALES: dict[tuple[str, str], tuple[str, ...]] = {
    ("leads", "lead"): ("change", "view"),
    ("leads", "touch"): VIEW,
    ("leads", "consent"): VIEW,
    ("leads", "event"): VIEW,
    ("leads", "note"): ("add", "view"),
    ("leads", "tag"): ("add", "view"),
    ("leads", "stage"): ALL,
    ("funnels", "funnel"): VIEW,
    ("funnels", "step"): VIEW,
    ("funnels", "route"): VIEW,
    ("funnels", "variant"): VIEW,
    ("offers", "product"): VIEW,
    ("offers", "offer"): VIEW,
    ("offers", "order"): VIEW,
    ("offers", "orderline"): VIEW,
    ("audiences", "audience"): VIEW,
    ("leads", "task"): ("add", "change", "view"),
    ("leads", "scoreevent"): ("add", "view"),
    ("leads", "stagemove"): VIEW,
    ("pipeline", "scorerule"): VIEW,
    ("pipeline", "fitrule"): VIEW,
    ("pipeline", "stagerule"): VIEW,
    ("pipeline", "apitoken"): ("add", "delete", "view"),
    ("pipeline", "assignmentrule"): VIEW,
    ("fulfilment", "access"): VIEW,  # support: "I never got it"
    ("fulfilment", "download"): VIEW,
    ("fulfilment", "buyeremail"): ("change", "view"),
}

ROLES = {"marketer": MARKETER, "sales": SALES}


def sync_role_permissions(apps: Any) -> None:
    """Make each group hold exactly its permissions; used by the migrations, with their historical models."""
    # Permissions are normally created after all migrations; create them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for group_name, grants in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        wanted = [(app, f"{action}_{model}") for (app, model), actions in grants.items() for action in actions]
        group.permissions.set(
            [permission_model.objects.get(content_type__app_label=app, codename=code) for app, code in wanted]
        )
