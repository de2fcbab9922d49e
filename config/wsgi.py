import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from funnels.front import CaptureFront  # noqa: E402  (needs the app registry that get_wsgi_application sets up)

application = CaptureFront(django_application)
