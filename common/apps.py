from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from common import logscrub

        logscrub.install()  # every process that loads Django: web, workers, commands
