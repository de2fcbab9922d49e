from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from common import checks, logscrub, lookups  # noqa: F401 (checks registers the deployment checks)

        logscrub.install()  # every process that loads Django: web, workers, commands
        lookups.install()
