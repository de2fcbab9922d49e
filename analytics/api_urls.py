from django.urls import path

from analytics import api

urlpatterns = [
    path("reports/funnels/<slug:slug>", api.FunnelReportApi.as_view(), name="api-report-funnel"),
    path(
        "reports/funnels/<slug:slug>/split-tests/<slug:step>", api.SplitTestReportApi.as_view(), name="api-report-split"
    ),
    path("reports/offers", api.OffersReportApi.as_view(), name="api-report-offers"),
    path("reports/campaigns", api.CampaignsReportApi.as_view(), name="api-report-campaigns"),
    path("reports/roi", api.RoiReportApi.as_view(), name="api-report-roi"),
    path("reports/payback", api.PaybackReportApi.as_view(), name="api-report-payback"),
    path("reports/cohorts", api.CohortsReportApi.as_view(), name="api-report-cohorts"),
    path("reports/rfm", api.RfmReportApi.as_view(), name="api-report-rfm"),
    path("reports/rfm/buyers", api.RfmBuyersApi.as_view(), name="api-report-rfm-buyers"),
    path("reports/lifetime-value", api.LifetimeValueReportApi.as_view(), name="api-report-lifetime-value"),
    path("reports/lifetime-value/buyers", api.BuyersByValueApi.as_view(), name="api-report-buyers-by-value"),
]
