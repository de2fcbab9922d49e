from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "funnels"
    verbose_name = "Funnels"
