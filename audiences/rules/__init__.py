"""Audience rules in funnel vocabulary, validated with precise messages and compiled to one SQL query.

A rule is JSON: a combinator or a condition.

* ``{"all": [rule, ...]}``, ``{"any": [rule, ...]}``, ``{"not": rule}``
* ``{"event": {...}}`` — the lead has events: ``type`` (required), ``funnel``, ``step``, ``variant``, ``offer``
  (ids), ``min_count`` (default 1), ``within_days`` or ``between`` (``["2026-01-01", "2026-02-01"]``, end
  exclusive), ``utm_source``, ``utm_campaign``.
* ``{"purchase": {...}}`` — the lead bought (a paid order line): ``offer``, ``product`` (ids), ``role`` (a ladder
  role), ``not_refunded`` (the order is not refunded in full), ``within_days``, ``min_amount_minor`` with
  ``currency``.
* ``{"revenue": {"top_percent": 20, "currency": "USD"}}`` — the top buyers by revenue net of refunds.
* ``{"value": {...}}`` — the buyer's predicted lifetime value in ``currency`` (required), from the last nightly fit:
  ``top_percent`` (the top buyers by predicted value), ``min_predicted_minor``, ``p_alive_at_least`` /
  ``p_alive_below`` (0–1; likely active from 0.7, at risk from 0.3, lapsed below), ``min_expected_purchases``.
  Leads without a prediction (no purchase, or a fit that could not be used) never match.
* ``{"lead": {...}}`` — the lead's own fields: ``country`` / ``region`` / ``postal_code_prefix`` (lists or a
  string), ``tags_any`` (tag names), ``stage`` (stage name), ``min_score``, ``consent`` (a purpose currently
  granted), ``created_within_days``.

``rule_problems`` lists what is wrong, each with the path of the condition (``all[1].event.funnel``); a rule
that names a deleted funnel, step or offer is a problem, never a silently empty audience. ``rule_q`` turns a
valid rule into a ``Q`` on Lead made of ``Exists`` subqueries, so membership is one query, never a loop.

``checks`` validates (``rule_problems``); ``compile`` builds the query (``rule_q``, ``rule_members``).
"""

from __future__ import annotations

from audiences.rules.checks import RuleInvalid, rule_problems
from audiences.rules.compile import rule_members, rule_q

__all__ = ["RuleInvalid", "rule_members", "rule_problems", "rule_q"]
