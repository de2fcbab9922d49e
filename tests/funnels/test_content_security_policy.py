"""Every page carries a Content-Security-Policy that allows no inline script, and no page needs one."""

import re

import pytest

from tests.funnels.test_pages import url

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def policy(response):
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))


def test_admin_pages_api_docs_and_funnel_pages_allow_no_inline_script(admin_client, live_funnel, settings):
    settings.STRIPE_JS_URL = "http://127.0.0.1:4242/v3/"
    funnel, _ = live_funnel
    pages = [
        admin_client.get("/admin/"),
        admin_client.get("/admin/leads/lead/"),
        admin_client.get("/api/docs/"),
        admin_client.get(url(funnel, "optin")),
        admin_client.get(url(funnel, "order")),
    ]
    for page in pages:
        assert page.status_code == 200
        rules = policy(page)
        assert "'unsafe-inline'" not in rules["script-src"]
        assert rules["frame-ancestors"] == "'none'"
        assert "http://127.0.0.1:4242" in rules["script-src"]  # Stripe.js, wherever settings say it is
        assert not INLINE_SCRIPT.search(page.content.decode()), page.wsgi_request.path
