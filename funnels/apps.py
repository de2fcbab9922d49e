from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "funnels"
    verbose_name = "Funnels"

    def ready(self) -> None:
        from funnels.models import Funnel
        from leads.admin.filters import funnel_names_provide

        # The lead list filters by funnel; leads sits below funnels, so funnels tells it the names.
        funnel_names_provide(lambda: list(Funnel.objects.order_by("name").values_list("pk", "name")))
