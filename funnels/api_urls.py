from django.urls import path

from funnels import api

urlpatterns = [
    path("optins", api.OptinApi.as_view(), name="api-optins"),
    path("events", api.EventsApi.as_view(), name="api-events"),
]
