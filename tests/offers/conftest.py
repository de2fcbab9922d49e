import pytest
from django.core.cache import cache

from funnels.models import Funnel
from funnels.services import funnel_publish
from tests.factories import ladder_funnel


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop(db):
    """The test ladder, published: opt-in → order ($7 + $17 bump) → upsell $97 → (declined) downsell $47."""
    funnel, steps = ladder_funnel()
    funnel = funnel_publish(funnel=funnel)
    return Funnel.objects.get(pk=funnel.pk), steps
