"""Production settings: the host-specific and secret values come from the settings file
that the deploy writes (DJANGOSTACK_SETTINGS, default /etc/djangostack/app.json)."""

from __future__ import annotations

from sample_site.config import load_app_config, memcached_cache
from sample_site.settings_common import *  # noqa: F403

_app = load_app_config()

SECRET_KEY = _app["secret_key"]
DEBUG = _app["debug"]
ALLOWED_HOSTS = _app["allowed_hosts"]
API_TOKEN = _app["api_token"]

_db = _app["database"]
DATABASES = {
    "default": {
        # pgpool on the web host: it pools the connections and sends writes to the primary.
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db["name"],
        "USER": _db["user"],
        "PASSWORD": _db["password"],
        "HOST": _db["host"],
        "PORT": str(_db["port"]),
        # Kept across requests (the role's django_app_database_conn_max_age): a new
        # connection costs a SCRAM exchange with pgpool. The check at each request's
        # start replaces one that pgpool closed (a failover restarts its children).
        "CONN_MAX_AGE": _app["conn_max_age"],
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5},
    }
}

if _app["cache_servers"]:
    CACHES = {"default": memcached_cache(_app["cache_servers"])}
else:
    # No cache tier (a single-host trial): a per-process cache keeps the app working.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

STATIC_ROOT = _app["static_root"]
MEDIA_ROOT = _app["media_root"]
# Static file names carry a hash of their content, so the load balancers let browsers and
# Varnish keep them for a year; the manifest that maps the names ships in the release.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "sample_site.storage.ReleaseManifestStaticFilesStorage"},
}
# The load balancers tell the app the client's scheme (trusting Varnish's header only).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS at the front door (the varnish role's hitch): the session and CSRF cookies never
# cross the network in clear, and browsers keep to HTTPS for hsts_seconds. The front door
# sends the same Strict-Transport-Security on every answer, its static files included.
SESSION_COOKIE_SECURE = _app["https"]
CSRF_COOKIE_SECURE = _app["https"]
SECURE_HSTS_SECONDS = _app["hsts_seconds"] if _app["https"] else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SILENCED_SYSTEM_CHECKS = [
    # SECURE_SSL_REDIRECT: the front door answers every plain-HTTP request with the
    # redirect before it reaches the app; behind it the tiers speak HTTP to each other, and
    # the load balancers' health checks of /healthz/ must not be redirected.
    "security.W008",
    # SECURE_HSTS_PRELOAD: asking browsers to preload the site is a commitment only its
    # operator can make (hstspreload.org), never a default.
    "security.W021",
]

# The load balancers terminate the client connection; cookies stay on this site only.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
