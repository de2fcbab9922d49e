"""Settings for the test suite: production settings with test-only secrets and fast password hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "mJf2q5n8m3xQ0G7s9wS0a1b2c3d4e5f6g7h8i9j0k1Y=")

from config.settings import *  # noqa: E402,F403
from config.settings import CACHES, REDIS_URL, STORAGES  # noqa: E402
from config.settings import LOGGING as PRODUCTION_LOGGING  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Uploaded lists of one run stay in a directory of their own.
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tempfile.mkdtemp(prefix="ladder-test-private-")},
    },
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# No console output, but the production levels of each logger (the log-capture tests rely on them).
LOGGING = {"version": 1, "disable_existing_loggers": False, "loggers": PRODUCTION_LOGGING["loggers"]}
# Serve static files straight from the apps, as in development: the suite never runs collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Every test sees funnel changes at once; tests/funnels/test_snapshots.py covers the cache itself.
CAPTURE_FUNNEL_CACHE_SECONDS = 0

# The webhook destination's tests POST to a receiver on 127.0.0.1.
WEBHOOK_DESTINATIONS_ALLOW_HTTP = True

# Each pytest-xdist worker gets its own Redis database: tests clear the cache (a FLUSHDB) and drain the capture inbox's
# shared lists, so workers sharing one database would empty each other's. Worker gwN uses the URL's database + N.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _XDIST_WORKER.startswith("gw"):
    _base, _, _db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_base}/{(int(_db) if _db.isdigit() else 0) + int(_XDIST_WORKER[2:])}"
    CACHES["default"]["LOCATION"] = REDIS_URL
