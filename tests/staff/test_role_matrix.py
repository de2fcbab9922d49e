"""Every admin page, custom admin URL and admin action, for each role, generated from the admin registry: a new
model, action or URL is covered (or fails here until it says what permission it needs)."""

import io

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from audiences.models import Audience
from fulfilment.models import ReceiptStyle
from leads import imports
from staff.roles import ROLES
from tests.factories import AudienceFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

STANDARD_URLS = {"changelist", "add", "history", "delete", "change", "autocomplete"}

# Every URL a ModelAdmin adds beyond Django's own, with the permission its view checks (a test below fails when a
# new one is not listed here).
CUSTOM_URLS = {
    "funnels_funnel_publish": ("funnels", "change_funnel"),
    "funnels_funnel_unpublish": ("funnels", "change_funnel"),
    "funnels_funnel_clone": ("funnels", "add_funnel"),
    "offers_order_refund": ("offers", "view_order"),  # a refund request; the view checks further (see test_refunds)
    "audiences_audience_preview": ("audiences", "view_audience"),
    "audiences_audience_sizes_csv": ("audiences", "view_audience"),
    "spend_othercost_upload": ("spend", "add_othercost"),
    "leads_leadimport_problems": ("leads", "view_leadimport"),
    "fulfilment_access_library": ("fulfilment", "view_access"),
    "fulfilment_receiptstyle_preview": ("fulfilment", "view_receiptstyle"),
}


def user_with(role):
    return UserFactory.create(role=role) if role else None


def holds(role, app, codename):
    """Whether the role's group (staff/roles.py) grants ``app.codename``."""
    if role is None:
        return False
    grants = {
        f"{action}_{model}" for (app_label, model), acts in ROLES[role].items() if app_label == app for action in acts
    }
    return codename in grants


@pytest.mark.parametrize("role", ["marketer", "sales", None])
def test_every_changelist_and_add_page_answers_by_the_roles_permissions(role):
    client = Client()
    user = user_with(role)
    if user is not None:
        client.force_login(user)
    root = RequestFactory().get("/")
    root.user = UserFactory.create(is_superuser=True, is_staff=True, username="root")
    for model, model_admin in admin.site._registry.items():
        app, name = model._meta.app_label, model._meta.model_name
        if app in ("auth", "axes"):
            continue
        # What the admin offers at all (a system-written record is never added by hand, whoever asks).
        offered = {
            "changelist": model_admin.has_view_or_change_permission(root),
            "add": model_admin.has_add_permission(root),
        }
        for page, needed in (("changelist", ("view", "change")), ("add", ("add",))):
            response = client.get(reverse(f"admin:{app}_{name}_{page}"))
            if user is None:
                assert response.status_code == 302, (app, name, page)  # to the login page
                continue
            allowed = offered[page] and any(holds(role, app, f"{action}_{name}") for action in needed)
            expected = 200 if allowed else 403
            assert response.status_code == expected, (role, app, name, page, response.status_code)


def test_every_admin_action_declares_the_permissions_it_needs():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "axes":  # the lockout's own admin: no role holds its permissions
            continue
        for action in model_admin.actions or []:
            function = getattr(model_admin, action) if isinstance(action, str) else action
            if getattr(function, "__name__", "") == "delete_selected":
                continue
            assert getattr(function, "allowed_permissions", None), (model.__name__, action)


@pytest.mark.parametrize("role", ["marketer", "sales"])
def test_each_role_is_offered_exactly_the_actions_its_permissions_allow(role):
    user = user_with(role)
    factory = RequestFactory()
    for model, model_admin in admin.site._registry.items():
        app, name = model._meta.app_label, model._meta.model_name
        if app in ("auth", "axes") or not any(holds(role, app, f"{a}_{name}") for a in ("view", "change")):
            continue
        request = factory.get("/")
        request.user = user
        offered = set(model_admin.get_actions(request))
        for action in model_admin.actions or []:
            function = getattr(model_admin, action) if isinstance(action, str) else action
            needed = getattr(function, "allowed_permissions", ())
            allowed = all(holds(role, app, f"{permission}_{name}") for permission in needed)
            assert (function.__name__ in offered) == allowed, (role, app, name, function.__name__)


def test_sales_cannot_run_an_audience_rebuild_by_posting_it():
    audience = AudienceFactory.create()
    LeadFactory.create()
    client = Client()
    client.force_login(user_with("sales"))
    response = client.post(
        reverse("admin:audiences_audience_changelist"),
        {"action": "refresh_now", "_selected_action": [audience.pk]},
    )
    assert response.status_code in (200, 302)
    audience.refresh_from_db()
    assert audience.refreshed_at is None  # nothing ran
    assert Audience.objects.get(pk=audience.pk).member_count == 0


def test_every_custom_admin_url_is_listed_with_the_permission_it_checks():
    found = set()
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            if name and not any(name.endswith(f"_{standard}") for standard in STANDARD_URLS):
                found.add(name)
    assert found == set(CUSTOM_URLS), found ^ set(CUSTOM_URLS)


@pytest.mark.parametrize("url_name", sorted(CUSTOM_URLS))
@pytest.mark.parametrize("role", ["marketer", "sales", None])
def test_custom_admin_urls_refuse_roles_without_their_permission(url_name, role):
    from tests.factories import OrderFactory, ladder_funnel

    funnel, _ = ladder_funnel()
    basis = imports.Basis(purposes=("marketing_email",), wording="w", legal_basis="consent")
    listed = imports.import_create(name="l", upload=io.BytesIO(b"email\nbad\n"), filename="l.csv", basis=basis)
    objects = {
        "funnels_funnel": funnel.pk,
        "offers_order": OrderFactory.create().pk,
        "leads_leadimport": listed.pk,
        "fulfilment_access": LeadFactory.create().pk,
        "fulfilment_receiptstyle": ReceiptStyle.objects.create().pk,
    }
    model_key = url_name.rsplit("_", 1)[0] if not url_name.endswith("sizes_csv") else "audiences_audience"
    args = [objects[model_key]] if model_key in objects else []
    client = Client()
    user = user_with(role)
    if user is not None:
        client.force_login(user)
    app, codename = CUSTOM_URLS[url_name]
    for method in ("get", "post"):
        response = getattr(client, method)(reverse(f"admin:{url_name}", args=args))
        if user is None:
            assert response.status_code == 302, (url_name, method)
        elif not holds(role, app, codename):
            refused = {403, 405} if method == "get" else {403}  # a POST-only view turns a GET away before asking
            assert response.status_code in refused, (role, url_name, method, response.status_code)
        else:
            assert response.status_code < 500, (role, url_name, method, response.status_code)
