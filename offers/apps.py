from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers and orders"

    def ready(self) -> None:
        from offers import checks  # noqa: F401 (registers the system checks)
