import pytest
from django.core.cache import cache

from funnels.models import Funnel
from funnels.services import funnel_publish
from tests.factories import ladder_funnel

EMAIL_WORDING = "Send me the e-book and tips by e-mail."
ADS_WORDING = "Show me relevant ads on Facebook and Google."


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def inbox_on(settings):
    """The capture inbox on, with no funnel snapshot held from before."""
    from funnels import snapshots

    settings.EVENT_INBOX = True
    snapshots.forget_all()
    yield
    snapshots.forget_all()


@pytest.fixture
def live_funnel(db):
    """The test ladder, published, with consent wording and one allowed origin."""
    funnel, steps = ladder_funnel()
    steps["optin"].consent_email_text = EMAIL_WORDING
    steps["optin"].consent_ads_text = ADS_WORDING
    steps["optin"].ask_phone = True
    steps["optin"].save()
    magnet = steps["optin"].offer
    assert magnet is not None
    magnet.asset_url = "https://files.example.com/playbook.pdf"
    magnet.save()
    funnel.allowed_origins = "https://shop.example.com\nhttps://www.example.com/"
    funnel.default_country = "US"
    funnel.save()
    funnel = funnel_publish(funnel=funnel)
    return Funnel.objects.get(pk=funnel.pk), steps
