"""Ladder settings. Everything that differs between machines comes from the environment.

See README.md ("Configuration") for every variable. Nothing here reads the database or the network.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.beat import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _development_secret_key() -> str:
    """A random key kept in var/ so that sessions survive restarts of the development server."""
    VAR_DIR.mkdir(exist_ok=True)
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if "SECRET_KEY" in env:
    SECRET_KEY = env.str("SECRET_KEY")
elif DEBUG:
    SECRET_KEY = _development_secret_key()
else:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (for development set DEBUG=true).")

# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Derived from SECRET_KEY only in DEBUG.
FIELD_ENCRYPTION_KEY: list[str] = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY must be set when DEBUG is off; make one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
    )

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "common",
    "leads",
    "offers",
    "funnels",
    "fulfilment",
    "spend",
    "analytics",
    "audiences",
    "pipeline",
    "staff",
    "axes",
    "anymail",
]
# The demo (``make run``'s seed) lives in the source tree only: an installed package leaves it out.
if importlib.util.find_spec("demo") is not None:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.PermissionsPolicyMiddleware",
    "common.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "config.urls"
# Moving the admin off /admin/ in production keeps scanners away; keep the trailing slash.
ADMIN_URL = env.str("ADMIN_URL", default="admin/")
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite under var/ needs no set-up; production and CI use PostgreSQL through DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'ladder.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
# A kept connection is checked before a request reuses it: after a database restart the first request on each
# thread reconnects instead of failing on the dead connection.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Concurrent writers (the demo's web workers and Celery) wait for each other instead of failing with "database is
    # locked": a write transaction takes the lock when it begins (a deferred one that upgrades later can deadlock, and
    # SQLite then gives up at once, whatever the timeout), and WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ladder",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
    # A cache that is down answers "not cached" (logged) instead of failing the request: pages and capture keep
    # working on the database while Redis is away.
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Unset broker → tasks run in-process at once, so the demo needs no broker. Set → the real broker.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# With the broker down, queueing gives up within seconds: the work is recorded already and its sweep sends it later
# (common.tasks.enqueue_on_commit), so a request never waits long, nor fails, for the broker.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_TIMEZONE = "UTC"
# New audience members reach the platforms within a minute however long the general queue is (a burst of lead-magnet
# e-mails, say): their tasks have a queue of their own. A worker started without -Q consumes both queues, taking from
# each in turn, so an audience task waits for at most one task a process, never for the whole backlog.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {"celery": {}, "audiences": {}}
CELERY_TASK_ROUTES = {
    name: {"queue": "audiences"} for name in ("audiences.refresh_marked", "audiences.push", "audiences.sync")
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
# Uploaded lists (personal data) go to a storage never served publicly; in production point it at a private bucket.
PRIVATE_ROOT = str(env.path("PRIVATE_ROOT", default=VAR_DIR / "private"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": PRIVATE_ROOT}},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# Capture API limits; counters live in the default cache (Redis when REDIS_URL is set).
CAPTURE_THROTTLE_RATES: dict[str, str] = {
    "capture_ip": env.str("THROTTLE_CAPTURE_IP", default="600/minute"),
    "capture_email": env.str("THROTTLE_CAPTURE_EMAIL", default="10/hour"),
    # Sign-ups (opt-ins, checkout starts) per client address, hosted pages and API alike.
    "optin_ip": env.str("THROTTLE_OPTIN_IP", default="60/hour"),
    # The customer library: sign-in links asked for per address and per e-mail, and openings per access.
    "library_ip": env.str("THROTTLE_LIBRARY_IP", default="120/hour"),
    "library_email": env.str("THROTTLE_LIBRARY_EMAIL", default="5/hour"),
    "library_download": env.str("THROTTLE_LIBRARY_DOWNLOAD", default="30/hour"),
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "NUM_PROXIES": 1 if env.bool("BEHIND_PROXY", default=False) else 0,
}
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
SPECTACULAR_SETTINGS = {
    "TITLE": "Ladder capture API",
    "DESCRIPTION": "Opt-ins and events from forms and beacons embedded on your own sites.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, never a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Admin sign-in: repeated failures lock the username and, separately, the address (django-axes, its own tables).
# Unlock with `python manage.py axes_reset_username <name>` or `axes_reset_ip <address>`.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("ADMIN_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "common.http.client_ip"
AXES_LOCKOUT_CALLABLE = "staff.logins.locked_out"
AXES_VERBOSE = False

# Production hardening. `manage.py check --deploy --fail-level WARNING` passes with DEBUG off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# Preloading is a promise browsers ship for months and that cannot be taken back quickly: only when asked.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SILENCED_SYSTEM_CHECKS = ["security.W021"]  # HSTS preload is opt-in (above)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The Stripe library logs request and response bodies (client secrets, e-mail addresses) below WARNING.
        "stripe": {"level": "WARNING"},
        # urllib3 logs each request's URL at DEBUG: the Graph API's carry the access token, and a removal's the
        # hashed rows. Meta's SDK logs through its own logger only in debug mode, which Ladder never turns on.
        "urllib3": {"level": "WARNING"},
        "facebook_business": {"level": "WARNING"},
        # Google's generated clients log each request and response body at DEBUG when their logging is enabled.
        "google": {"level": "WARNING"},
    },
}

# Mail: EMAIL_URL (smtp+tls://user:password@host:587) configures an SMTP server; EMAIL_BACKEND names any other
# backend, such as django-anymail's for an e-mail provider (README: Configuration). Without either, the demo
# (DEBUG) writes each message as a file under var/mail/, and production prints them to the console.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND",
        default="django.core.mail.backends.filebased.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.console.EmailBackend",
    )
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ladder <noreply@localhost>")

# The address visitors reach Ladder at; links in e-mails are built from it.
LEAD_MAGNET_DAILY_CAP = env.int("LEAD_MAGNET_DAILY_CAP", default=3)  # lead-magnet e-mails to one address a day
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# django-anymail: every ANYMAIL_<SETTING> in the environment becomes ANYMAIL["<SETTING>"], e.g. with
# EMAIL_BACKEND=anymail.backends.postmark.EmailBackend: ANYMAIL_POSTMARK_SERVER_TOKEN, and ANYMAIL_WEBHOOK_SECRET
# (user:password) for the provider's bounce and complaint webhook at /webhooks/mail/<provider>/tracking/.
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}
# Who sells: named in receipts, the customer library and its e-mails.
MERCHANT_NAME = env.str("MERCHANT_NAME", default="Ladder demo shop")
MERCHANT_ADDRESS = env.str("MERCHANT_ADDRESS", default="")
# Where buyers write for help and refunds (receipts are sent with it as their reply-to address).
MERCHANT_SUPPORT_EMAIL = env.str("MERCHANT_SUPPORT_EMAIL", default="")
LEAD_MAGNET_LINK_MAX_AGE = env.int("LEAD_MAGNET_LINK_MAX_AGE", default=7 * 24 * 3600)
# How long each server process keeps a funnel's snapshot for the capture API (see funnels/snapshots.py).
CAPTURE_FUNNEL_CACHE_SECONDS = env.int("CAPTURE_FUNNEL_CACHE_SECONDS", default=10)

# Beacons and API opt-ins through the Redis inbox (see leads/inbox.py): needs REDIS_URL, Celery beat (or a flusher
# process) and Redis with appendonly on, since what was accepted waits there until the next flush.
EVENT_INBOX = env.bool("EVENT_INBOX", default=False)

# Meta: the app secret, when set, signs every Graph API call with appsecret_proof (each destination has its token).
META_APP_SECRET = env.str("META_APP_SECRET", default="")
# Only to try Ladder without Meta: where a stand-in Graph API listens (python -m tests.fakes.meta_graph).
META_GRAPH_URL = env.str("META_GRAPH_URL", default="")
# How long a conversions dispatch run holds off the next when its worker dies (renewed after every batch it sends).
CONVERSIONS_DISPATCH_LOCK_SECONDS = env.int("CONVERSIONS_DISPATCH_LOCK_SECONDS", default=120)
# How long a sync's lock outlives its last batch: a worker that dies mid-sync holds its destination this long.
AUDIENCE_SYNC_LOCK_SECONDS = env.int("AUDIENCE_SYNC_LOCK_SECONDS", default=300)
# Only to try Ladder without Google: where a stand-in Data Manager API listens (python -m tests.fakes.google_dm).
GOOGLE_DATAMANAGER_URL = env.str("GOOGLE_DATAMANAGER_URL", default="")
# Likewise for the Google Ads API (host:port; the client always uses TLS, so GRPC_DEFAULT_SSL_ROOTS_FILE_PATH must name
# the stand-in's certificate).
GOOGLE_ADS_ENDPOINT = env.str("GOOGLE_ADS_ENDPOINT", default="")

# Stripe. The secret key is used by checkout (payments); the webhook secret verifies /webhooks/stripe/.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
# Where the library and the pages reach Stripe; empty means Stripe's own (tests point them at loopback fakes).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_CONNECT_TIMEOUT = env.float("STRIPE_CONNECT_TIMEOUT", default=5.0)
STRIPE_READ_TIMEOUT = env.float("STRIPE_READ_TIMEOUT", default=20.0)
# After a purchase, upsells charge the saved card with one click for this long; then they ask for the card.
ONE_CLICK_WINDOW_MINUTES = env.int("ONE_CLICK_WINDOW_MINUTES", default=15)
# Signed-webhook destinations must use https; plain http is for a receiver on this machine while developing.
WEBHOOK_DESTINATIONS_ALLOW_HTTP = env.bool("WEBHOOK_DESTINATIONS_ALLOW_HTTP", default=DEBUG)
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_WEBHOOK_MAX_BYTES = env.int("STRIPE_WEBHOOK_MAX_BYTES", default=256 * 1024)
# Changed leads' audiences, every second or so (a run with nothing marked is one query); new members are then pushed
# to each destination at most once a window (AUDIENCE_PUSH_SECONDS) unless they fill a batch sooner.
AUDIENCE_MARKED_SECONDS = env.float("AUDIENCE_MARKED_SECONDS", default=1.0)
AUDIENCE_PUSH_SECONDS = env.int("AUDIENCE_PUSH_SECONDS", default=60)
# A push starts this long before its slot, so its rows are ready and its request leaves the moment the window ends.
AUDIENCE_PUSH_PREPARE_SECONDS = env.float("AUDIENCE_PUSH_PREPARE_SECONDS", default=0.75)
# Its last call for people who joined while it prepared comes this long before the slot.
AUDIENCE_PUSH_LAST_CALL_SECONDS = env.float("AUDIENCE_PUSH_LAST_CALL_SECONDS", default=0.2)
CELERY_BEAT_SCHEDULE = beat_schedule(marked_seconds=AUDIENCE_MARKED_SECONDS)  # config/beat.py

# Reports. Split tests count a visitor's revenue only once their refund window has passed; the always-valid interval
# is tuned for this many visitors a variant (the planned size).
SPLIT_TEST_MATURITY_DAYS = env.int("SPLIT_TEST_MATURITY_DAYS", default=14)
SPLIT_TEST_PLANNED_VISITORS = env.int("SPLIT_TEST_PLANNED_VISITORS", default=10_000)
# The currency the dashboard leads with (each currency is always reported on its own, never converted).
REPORTS_CURRENCY = env.str("REPORTS_CURRENCY", default="USD")
# Lifetime value: the nightly fit's horizon, monthly discount rate, and the repeat buyers a currency needs first.
CLV_HORIZON_MONTHS = env.int("CLV_HORIZON_MONTHS", default=12)
CLV_MONTHLY_DISCOUNT = env.float("CLV_MONTHLY_DISCOUNT", default=0.01)
CLV_MIN_REPEAT_BUYERS = env.int("CLV_MIN_REPEAT_BUYERS", default=50)
