from django.urls import path

from funnels import views

app_name = "funnels"

urlpatterns = [
    path("<slug:funnel_slug>/", views.funnel_entry, name="entry"),
    path("<slug:funnel_slug>/download/<str:token>/", views.lead_magnet, name="lead_magnet"),
    path("<slug:funnel_slug>/<slug:step_slug>/", views.step_page, name="step"),
]
