from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    name = "fulfilment"
    verbose_name = "Fulfilment"

    def ready(self) -> None:
        from anymail.signals import tracking

        from fulfilment.emails import on_tracking

        # Receipts' deliveries and openings arrive only as django-anymail's signal (see leads.mail for bounces).
        tracking.connect(on_tracking, dispatch_uid="fulfilment.emails.on_tracking")
