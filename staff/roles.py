"""The two staff roles and exactly which model permissions each holds. Admin and API enforce them server-side."""

from __future__ import annotations

ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

# (app label, model name) → actions
MARKETER: dict[tuple[str, str], tuple[str, ...]] = {
    ("funnels", "funnel"): ALL,
    ("funnels", "step"): ALL,
    ("funnels", "route"): ALL,
    ("funnels", "variant"): ALL,
    ("offers", "product"): ALL,
    ("offers", "offer"): ALL,
    ("offers", "coupon"): ALL,
    ("offers", "couponredemption"): VIEW,
    ("offers", "order"): VIEW,
    ("offers", "orderline"): VIEW,
    ("offers", "payment"): VIEW,
    ("offers", "refund"): VIEW,
    ("audiences", "audience"): ALL,
    ("audiences", "destination"): ALL,
    ("leads", "lead"): ALL,
    ("leads", "touch"): VIEW,
    ("leads", "consent"): ("add", "view"),
    ("leads", "event"): VIEW,
    ("leads", "note"): ALL,
    ("leads", "tag"): ALL,
    ("leads", "stage"): VIEW,
}

SALES: dict[tuple[str, str], tuple[str, ...]] = {
    ("leads", "lead"): ("change", "view"),
    ("leads", "touch"): VIEW,
    ("leads", "consent"): VIEW,
    ("leads", "event"): VIEW,
    ("leads", "note"): ALL,
    ("leads", "tag"): ("add", "view"),
    ("leads", "stage"): ALL,
    ("funnels", "funnel"): VIEW,
    ("funnels", "step"): VIEW,
    ("funnels", "route"): VIEW,
    ("funnels", "variant"): VIEW,
    ("offers", "product"): VIEW,
    ("offers", "offer"): VIEW,
    ("offers", "order"): VIEW,
    ("offers", "orderline"): VIEW,
    ("audiences", "audience"): VIEW,
}

ROLES = {"marketer": MARKETER, "sales": SALES}
