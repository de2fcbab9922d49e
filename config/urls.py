from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics import views as analytics_views
from offers import views as offers_views
from pipeline import views as pipeline_views


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers: answers from the process alone, touching no database or cache."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", RedirectView.as_view(url="/" + settings.ADMIN_URL, permanent=False)),
    path(settings.ADMIN_URL + "reports/", admin.site.admin_view(analytics_views.dashboard), name="reports"),
    path(settings.ADMIN_URL + "reports/roi/", admin.site.admin_view(analytics_views.roi_page), name="reports-roi"),
    path(
        settings.ADMIN_URL + "reports/lifetime-value/",
        admin.site.admin_view(analytics_views.lifetime_value_page),
        name="reports-lifetime-value",
    ),
    path(
        settings.ADMIN_URL + "reports/funnels/<slug:slug>/",
        admin.site.admin_view(analytics_views.funnel_page),
        name="reports-funnel",
    ),
    path(settings.ADMIN_URL + "pipeline/", admin.site.admin_view(pipeline_views.board), name="pipeline-board"),
    path(settings.ADMIN_URL + "pipeline/move/", admin.site.admin_view(pipeline_views.move), name="pipeline-move"),
    path(settings.ADMIN_URL + "pipeline/flow/", admin.site.admin_view(pipeline_views.flow), name="pipeline-flow"),
    path(settings.ADMIN_URL + "pipeline/my-day/", admin.site.admin_view(pipeline_views.my_day), name="pipeline-my-day"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("f/", include("funnels.urls")),
    path("library/", include("fulfilment.urls")),
    path("api/v1/", include("funnels.api_urls")),
    path("api/v1/", include("analytics.api_urls")),
    path("api/v1/", include("pipeline.api.urls")),
    path("webhooks/stripe/", offers_views.stripe_webhook, name="stripe-webhook"),
    path("webhooks/mail/", include("anymail.urls")),  # the mail provider's bounces and complaints
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL of its own: the page needs no inline script (the CSP allows none).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler500 = "common.views.server_error"
