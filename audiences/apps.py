from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "audiences"
    verbose_name = "Audiences"

    def ready(self) -> None:
        from django.conf import settings

        from integrations import google_ads_audiences, google_audiences, meta_audiences

        # META_GRAPH_URL: a stand-in for Meta's Graph API (the demo's loopback fake); unset, Meta's own.
        meta_audiences.GRAPH_URL = settings.META_GRAPH_URL or None
        # GOOGLE_DATAMANAGER_URL: likewise for Google's Data Manager API.
        google_audiences.ENDPOINT = settings.GOOGLE_DATAMANAGER_URL or None
        # GOOGLE_ADS_ENDPOINT: likewise for the Google Ads API (host:port, TLS).
        google_ads_audiences.ENDPOINT = settings.GOOGLE_ADS_ENDPOINT or None
