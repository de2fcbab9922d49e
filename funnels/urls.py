from django.urls import path

from funnels import views

app_name = "funnels"

urlpatterns = [
    path("<slug:funnel_slug>/", views.funnel_entry, name="entry"),
    path("<slug:funnel_slug>/download/<str:token>/", views.lead_magnet, name="lead_magnet"),
    path("<slug:funnel_slug>/<slug:step_slug>/", views.step_page, name="step"),
    path("<slug:funnel_slug>/<slug:step_slug>/checkout/", views.checkout, name="checkout"),
    path("<slug:funnel_slug>/<slug:step_slug>/paid/<uuid:order_id>/", views.payment_status, name="payment_status"),
]
