from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from anymail.signals import tracking

        from leads.mail import on_tracking

        # The mail provider's bounces and complaints arrive only as this signal (django-anymail's webhook).
        tracking.connect(on_tracking, dispatch_uid="leads.mail.on_tracking")
