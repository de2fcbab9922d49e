"""The fit score: who a lead is (country, tags, company size), the sum of the fit rules their fields match, shown
apart from the engagement score; rules refuse values that could never match."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from leads.models import Tag
from pipeline.models import FitRule, size_range
from pipeline.selectors import fit_scores
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_fit_score_sums_the_rules_a_leads_fields_match():
    FitRule.objects.create(field="country", value="US", points=10)
    FitRule.objects.create(field="tag", value="partner", points=15)
    FitRule.objects.create(field="company_size", value="50-499", points=20)
    FitRule.objects.create(field="company_size", value="500+", points=30)
    partner = Tag.objects.create(name="partner")
    mid = LeadFactory.create(country="US", company_size=120)
    mid.tags.add(partner)
    big = LeadFactory.create(country="DE", company_size=500)
    edge = LeadFactory.create(country="US", company_size=499)
    unknown = LeadFactory.create(country="", company_size=None)
    assert fit_scores([mid, big, edge, unknown]) == {mid.pk: 45, big.pk: 30, edge.pk: 30, unknown.pk: 0}


@pytest.mark.parametrize(
    ("value", "bounds"),
    [("10-49", (10, 49)), ("200+", (200, None)), (" 1 - 9 ", (1, 9)), ("49-10", None), ("big", None), ("", None)],
)
def test_company_size_ranges_read_as_written(value, bounds):
    assert size_range(value) == bounds


def test_a_rule_that_could_never_match_is_refused():
    with pytest.raises(ValidationError, match="range such as 10-49"):
        FitRule(field="company_size", value="lots", points=5).clean()
    with pytest.raises(ValidationError, match="two-letter country code"):
        FitRule(field="country", value="USA", points=5).clean()
