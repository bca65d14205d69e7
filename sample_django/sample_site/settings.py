"""Production settings, read from the environment by the usual names (DATABASE_URL,
DJANGO_SECRET_KEY, ...): the deploy sets them, the repository holds no secret, and one
release runs unchanged on every web host.

A missing or invalid variable stops start-up with ImproperlyConfigured naming it, so a
broken deploy fails before it serves anyone instead of answering 500s later.
"""

from __future__ import annotations

import json
import os
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from sample_site.cache import memcached_cache
from sample_site.settings_common import *  # noqa: F403
from sample_site.settings_common import BASE_DIR


def _optional(name: str) -> str:
    """The variable's value, "" when unset: an empty variable counts as absent."""
    return os.environ.get(name, "").strip()


def _required(name: str) -> str:
    value = _optional(name)
    if not value:
        raise ImproperlyConfigured(f"the environment variable {name} is required (empty or unset)")
    return value


def _bool(name: str, default: bool = False) -> bool:
    value = _optional(name).lower()
    if not value:
        return default
    # Strict: a typo ("ture", "yes") must not silently mean false.
    if value not in ("true", "false"):
        raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")
    return value == "true"


def _seconds(name: str, default: int = 0) -> int:
    value = _optional(name)
    if not value:
        return default
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number of seconds, 0 or more")
    return int(value)


def database(url: str, conn_max_age: int) -> dict[str, Any]:
    """The DATABASES entry for DATABASE_URL (postgres://user:password@host:port/name)."""
    try:
        db: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
        )
    except ValueError as exc:  # an unknown scheme, a port that is not a number
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    # The options below are libpq's; the stack runs PostgreSQL only.
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    if not db["NAME"]:
        raise ImproperlyConfigured("DATABASE_URL names no database (postgres://.../name)")
    # Options in the URL's query string (?sslmode=require) win over this default.
    db["OPTIONS"] = {"connect_timeout": 5, **db.get("OPTIONS", {})}
    # No DISABLE_SERVER_SIDE_CURSORS: the deploy's release runtime sets it on every
    # PostgreSQL database, since pgpool-II cannot run psycopg 3's server-side cursors.
    return db


def cache_servers(url: str) -> list[str]:
    """The host:port list of CACHE_URL (pymemcache://host:port,host:port)."""
    scheme, _, rest = url.partition("://")
    if scheme != "pymemcache" or not rest:
        raise ImproperlyConfigured(
            "CACHE_URL must be pymemcache://host:port[,host:port...], or empty for no cache tier"
        )
    servers = [s.strip() for s in rest.rstrip("/").split(",")]
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"CACHE_URL: {server!r} is not host:port")
    return servers


def media_storage(raw: str, media_root: str) -> dict[str, Any]:
    """The STORAGES["default"] entry: DJANGO_MEDIA_STORAGE's JSON, else a local folder."""
    if not raw:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media_root},
        }
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"DJANGO_MEDIA_STORAGE is not valid JSON: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("BACKEND"), str):
        raise ImproperlyConfigured(
            'DJANGO_MEDIA_STORAGE must be a JSON object with a BACKEND: {"BACKEND": "...", '
            '"OPTIONS": {...}}'
        )
    if not isinstance(entry.get("OPTIONS", {}), dict):
        raise ImproperlyConfigured("DJANGO_MEDIA_STORAGE: OPTIONS must be a JSON object")
    return entry


SECRET_KEY = _required("DJANGO_SECRET_KEY")
DEBUG = _bool("DJANGO_DEBUG")
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS names no host (comma-separated names)")
# The write API's bearer token. None configured means the API refuses every request.
API_TOKEN = _optional("LEAGUE_API_TOKEN")
# The release this code belongs to, as the deploy names it ("development" in a checkout).
RELEASE = _optional("DJANGOSTACK_RELEASE") or "development"

DATABASES = {
    # pgpool on the web host: it pools the connections and sends writes to the primary.
    # Connections are kept across requests for DATABASE_CONN_MAX_AGE seconds (the role's
    # django_app_database_conn_max_age): a new one costs a SCRAM exchange with pgpool. The
    # check at each request's start replaces one that pgpool closed (a failover restarts
    # its children).
    "default": database(_required("DATABASE_URL"), _seconds("DATABASE_CONN_MAX_AGE")),
}

_cache_url = _optional("CACHE_URL")
if _cache_url:
    CACHES = {"default": memcached_cache(cache_servers(_cache_url))}
else:
    # No cache tier (a single-host trial): a per-process cache keeps the app working.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The deploy runs collectstatic into it when it builds a release and ships it inside the
# release, so the manifest that maps each file to its hashed name is found there.
STATIC_ROOT = _optional("DJANGO_STATIC_ROOT") or str(BASE_DIR / "staticfiles")
MEDIA_ROOT = _optional("DJANGO_MEDIA_ROOT") or "/var/www/djangostack/media"
# Static file names carry a hash of their content, so the load balancers let browsers and
# Varnish keep them for a year.
STORAGES = {
    "default": media_storage(_optional("DJANGO_MEDIA_STORAGE"), MEDIA_ROOT),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
# The load balancers tell the app the client's scheme (trusting Varnish's header only).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS at the front door (the varnish role's hitch): the session and CSRF cookies never
# cross the network in clear, and browsers keep to HTTPS for DJANGO_HSTS_SECONDS. The front
# door sends the same Strict-Transport-Security on every answer, its static files included.
_https = _bool("DJANGO_HTTPS")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
# Read even without HTTPS, so that a bad value fails now, not when HTTPS is turned on.
_hsts_seconds = _seconds("DJANGO_HSTS_SECONDS")
SECURE_HSTS_SECONDS = _hsts_seconds if _https else 0
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
