"""Read the settings file the deploy templates (/etc/djangostack/app.json).

Everything secret or host-specific lives in that file, written by the django_app role, so
the repository holds no secret and one release runs unchanged on every web host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SETTINGS_ENV = "DJANGOSTACK_SETTINGS"
DEFAULT_SETTINGS_FILE = "/etc/djangostack/app.json"

# pgpool runs on every web host (see docs/architecture.md), hence the loopback default.
DATABASE_DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 5432}
REQUIRED_DATABASE_KEYS = ("name", "user", "password")


def settings_file_path() -> Path:
    return Path(os.environ.get(SETTINGS_ENV) or DEFAULT_SETTINGS_FILE)


def _fail(path: Path, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{path}: {message} (the file {SETTINGS_ENV} points to)")


def load_app_config(path: Path | None = None) -> dict[str, Any]:
    """Return the validated settings file, with defaults filled in.

    Raises ImproperlyConfigured naming the file and the missing or invalid key, so a
    broken deploy fails at start-up with a readable message instead of a 500 later.
    """
    path = path or settings_file_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(path, "settings file not found") from None
    except OSError as exc:
        raise _fail(path, f"settings file unreadable: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, "the top level must be a JSON object")

    secret_key = data.get("secret_key")
    if not isinstance(secret_key, str) or not secret_key.strip():
        raise _fail(path, "missing key 'secret_key' (a non-empty string)")

    database = data.get("database")
    if not isinstance(database, dict):
        raise _fail(path, "missing key 'database' (an object with name, user, password)")
    for key in REQUIRED_DATABASE_KEYS:
        if key not in database:
            raise _fail(path, f"missing key 'database.{key}'")
    database = {**DATABASE_DEFAULTS, **database}

    allowed_hosts = data.get("allowed_hosts", [])
    if not isinstance(allowed_hosts, list) or not all(isinstance(h, str) for h in allowed_hosts):
        raise _fail(path, "'allowed_hosts' must be a list of strings")

    cache_servers = data.get("cache_servers", [])
    if not isinstance(cache_servers, list) or not all(
        isinstance(s, str) and ":" in s for s in cache_servers
    ):
        raise _fail(path, "'cache_servers' must be a list of 'host:port' strings")

    hsts_seconds = data.get("hsts_seconds", 0)
    if not isinstance(hsts_seconds, int) or isinstance(hsts_seconds, bool) or hsts_seconds < 0:
        raise _fail(path, "'hsts_seconds' must be a whole number of seconds, 0 or more")

    return {
        "secret_key": secret_key,
        "allowed_hosts": allowed_hosts,
        "database": database,
        "cache_servers": cache_servers,
        "static_root": data.get("static_root", "/var/www/djangostack/static"),
        "media_root": data.get("media_root", "/var/www/djangostack/media"),
        "debug": bool(data.get("debug", False)),
        # No token configured means the write API refuses every request.
        "api_token": data.get("api_token") or "",
        "conn_max_age": int(data.get("conn_max_age", 0)),
        # Served over HTTPS at the front door: Secure cookies, and HSTS for this long.
        "https": bool(data.get("https", False)),
        "hsts_seconds": hsts_seconds,
    }


def memcached_cache(servers: list[str]) -> dict[str, Any]:
    """The CACHES entry for the memcached tier: a lost node is a miss, never an error.

    pymemcache's HashClient spreads keys over the nodes (client-side hashing). With
    ignore_exc a failing node answers like an empty cache; after retry_attempts failures
    it leaves the ring for dead_timeout seconds, so its keys move to the live nodes
    instead of each request waiting on a dead one.
    """
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": servers,
        "TIMEOUT": 300,
        "KEY_PREFIX": "djangostack",
        "OPTIONS": {
            "ignore_exc": True,
            # Short: a request waits at most this long on a node that stopped answering.
            "connect_timeout": 0.25,
            "timeout": 0.5,
            "retry_attempts": 2,
            "retry_timeout": 1,
            "dead_timeout": 30,
            "no_delay": True,
        },
    }
