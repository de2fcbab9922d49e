"""The reports, as ``docs/metrics.md`` defines them, read from the rollups. One layer for the admin, the API and the
``funnel_report`` command: each returns plain frozen values with ``as_dict()`` for JSON and CSV.

A range is ``[since, until)`` of local dates in ``settings.TIME_ZONE``. Money is integer minor units per currency,
never mixed.
"""

from __future__ import annotations

from analytics.reports.funnel import OFFER_STEPS, FunnelReport, StepRow, Totals, funnel_report, steps_in_order
from analytics.reports.lifetime import (
    GROUPINGS,
    ORDERINGS,
    BuyerValue,
    FitSummary,
    LifetimeValueReport,
    ValueRow,
    buyers_by_value,
    lifetime_value_report,
)
from analytics.reports.overview import Overview, overview
from analytics.reports.payback import PaybackRow, payback_report
from analytics.reports.ranges import MAX_RANGE_DAYS, ZERO_DAY, Period, distinct_visitors, period_parse, standard_periods
from analytics.reports.retention import (
    SEGMENTS,
    BuyerScore,
    CohortRow,
    RfmReport,
    RfmScale,
    SegmentRow,
    cohorts_report,
    leads_per_day,
    report_currencies,
    revenue_per_day,
    rfm_buyers,
    rfm_cells,
    rfm_report,
    rfm_scale,
    segment_of,
)
from analytics.reports.roi import TOUCHES, RoiReport, RoiRow, roi_report
from analytics.reports.sales import ChannelRow, OfferRow, channels_report, distinct_leads, offers_report
from analytics.reports.split_tests import MIN_BUYERS, SplitTestReport, VariantRow, split_test_report

__all__ = [
    "BuyerScore",
    "BuyerValue",
    "ChannelRow",
    "CohortRow",
    "FitSummary",
    "FunnelReport",
    "GROUPINGS",
    "LifetimeValueReport",
    "MAX_RANGE_DAYS",
    "MIN_BUYERS",
    "OFFER_STEPS",
    "ORDERINGS",
    "OfferRow",
    "Overview",
    "Period",
    "RfmReport",
    "RfmScale",
    "SEGMENTS",
    "SegmentRow",
    "SplitTestReport",
    "StepRow",
    "Totals",
    "ValueRow",
    "VariantRow",
    "ZERO_DAY",
    "buyers_by_value",
    "channels_report",
    "roi_report",
    "payback_report",
    "PaybackRow",
    "RoiReport",
    "RoiRow",
    "TOUCHES",
    "cohorts_report",
    "distinct_leads",
    "distinct_visitors",
    "funnel_report",
    "leads_per_day",
    "lifetime_value_report",
    "offers_report",
    "overview",
    "period_parse",
    "report_currencies",
    "revenue_per_day",
    "rfm_buyers",
    "rfm_cells",
    "rfm_report",
    "rfm_scale",
    "segment_of",
    "split_test_report",
    "standard_periods",
    "steps_in_order",
]
