"""The production settings (sample_site.settings), read from the environment.

Each case imports the module in a fresh Python with only the variables given, as the
deploy's processes do: nothing from this process's environment or settings leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SAMPLE_DJANGO = Path(__file__).resolve().parents[1]

# The three variables without which production settings refuse to load.
REQUIRED = {
    "DJANGO_SECRET_KEY": "s3cret",
    "DJANGO_ALLOWED_HOSTS": "web1, localhost",
    # The password percent-encoded, as the deploy writes it.
    "DATABASE_URL": "postgres://league:p%40ss%2Fw%3Ard@127.0.0.1:5432/league",
}

# Prints the settings (their upper-case names) as JSON, or the exception that stopped them.
IMPORT_SETTINGS = """
import json
try:
    import sample_site.settings as s
except Exception as exc:
    print(json.dumps({"exception": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({k: getattr(s, k) for k in dir(s) if k.isupper()}, default=str))
"""


def _load(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SETTINGS],
        cwd=SAMPLE_DJANGO,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def _settings(**env: str) -> dict[str, Any]:
    loaded = _load({**REQUIRED, **env})
    assert "exception" not in loaded, loaded
    return loaded


def _refusal(env: dict[str, str]) -> str:
    """The ImproperlyConfigured message the settings stop with."""
    loaded = _load(env)
    assert loaded.get("exception") == "ImproperlyConfigured", loaded
    return loaded["message"]


def test_the_required_variables_alone_and_the_defaults() -> None:
    prod = _settings()
    assert prod["SECRET_KEY"] == "s3cret"
    assert prod["ALLOWED_HOSTS"] == ["web1", "localhost"]
    assert prod["DEBUG"] is False
    assert prod["DATABASES"] == {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "league",
            "USER": "league",
            "PASSWORD": "p@ss/w:rd",
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
            # dj-database-url's; the deploy's release runtime sets it True (pgpool).
            "DISABLE_SERVER_SIDE_CURSORS": False,
        }
    }
    assert prod["CACHES"] == {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    assert prod["STORAGES"] == {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/var/www/djangostack/media"},
        },
        # Django's own: the manifest is in STATIC_ROOT, shipped inside each release.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    assert prod["STATIC_ROOT"] == str(SAMPLE_DJANGO / "staticfiles")
    assert prod["MEDIA_ROOT"] == "/var/www/djangostack/media"
    assert prod["API_TOKEN"] == ""
    assert prod["RELEASE"] == "development"
    assert (prod["SESSION_COOKIE_SECURE"], prod["CSRF_COOKIE_SECURE"]) == (False, False)
    assert prod["SECURE_HSTS_SECONDS"] == 0
    # What stays as it was, whatever the environment.
    assert prod["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert prod["SILENCED_SYSTEM_CHECKS"] == ["security.W008", "security.W021"]
    assert prod["X_FRAME_OPTIONS"] == "DENY"
    assert prod["LOGGING"]["root"]["handlers"] == ["stderr"]
    assert "sample_site.middleware.CacheControlMiddleware" in prod["MIDDLEWARE"]


def test_every_variable_set() -> None:
    s3 = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "league-media", "region_name": "eu-west-1"},
    }
    prod = _settings(
        DATABASE_URL="postgres://app:pw@10.0.0.5:9999/league?sslmode=require",
        DATABASE_CONN_MAX_AGE="300",
        CACHE_URL="pymemcache://10.0.0.1:11211,10.0.0.2:11211",
        DJANGO_STATIC_ROOT="/srv/djangostack/releases/abc/static",
        DJANGO_MEDIA_STORAGE=json.dumps(s3),
        DJANGO_HTTPS="true",
        DJANGO_HSTS_SECONDS="31536000",
        DJANGO_DEBUG="true",
        LEAGUE_API_TOKEN="tok",
        DJANGOSTACK_RELEASE="20260101-abc123",
    )
    db = prod["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["USER"], db["PASSWORD"]) == ("10.0.0.5", 9999, "app", "pw")
    assert db["CONN_MAX_AGE"] == 300
    assert db["OPTIONS"] == {"connect_timeout": 5, "sslmode": "require"}
    cache = prod["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.memcached.PyMemcacheCache"
    assert cache["LOCATION"] == ["10.0.0.1:11211", "10.0.0.2:11211"]
    # The tier's options: a dead node is a miss, and leaves the ring for a while.
    assert cache["OPTIONS"]["ignore_exc"] is True
    assert cache["OPTIONS"]["dead_timeout"] == 30
    assert prod["STATIC_ROOT"] == "/srv/djangostack/releases/abc/static"
    assert prod["STORAGES"]["default"] == s3
    assert (prod["SESSION_COOKIE_SECURE"], prod["CSRF_COOKIE_SECURE"]) == (True, True)
    assert prod["SECURE_HSTS_SECONDS"] == 31536000
    assert prod["DEBUG"] is True
    assert prod["API_TOKEN"] == "tok"
    assert prod["RELEASE"] == "20260101-abc123"


def test_hsts_only_over_https() -> None:
    assert _settings(DJANGO_HSTS_SECONDS="600")["SECURE_HSTS_SECONDS"] == 0
    assert _settings(DJANGO_HSTS_SECONDS="600", DJANGO_HTTPS="True")["SECURE_HSTS_SECONDS"] == 600


def test_media_root_without_a_media_storage() -> None:
    prod = _settings(DJANGO_MEDIA_ROOT="/srv/media")
    assert prod["MEDIA_ROOT"] == "/srv/media"
    assert prod["STORAGES"]["default"]["OPTIONS"] == {"location": "/srv/media"}


def test_empty_optional_variables_count_as_unset() -> None:
    prod = _settings(CACHE_URL="", DJANGO_MEDIA_STORAGE="", DJANGO_DEBUG="", LEAGUE_API_TOKEN="")
    assert prod["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert prod["STORAGES"]["default"]["BACKEND"].endswith("FileSystemStorage")
    assert prod["DEBUG"] is False
    assert prod["API_TOKEN"] == ""


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "  "])
def test_a_missing_required_variable_is_named(name: str, value: str | None) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != name}
    if value is not None:
        env[name] = value
    assert f"{name} is required" in _refusal(env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_ALLOWED_HOSTS", " , ", "DJANGO_ALLOWED_HOSTS names no host"),
        ("DATABASE_URL", "mysql://app:pw@db/league", "DATABASE_URL must be a postgres:// URL"),
        ("DATABASE_URL", "league", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "postgres://app:pw@db:port/league", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "postgres://app:pw@db:5432/", "DATABASE_URL names no database"),
        ("DATABASE_CONN_MAX_AGE", "forever", "DATABASE_CONN_MAX_AGE must be a whole number"),
        ("DATABASE_CONN_MAX_AGE", "-1", "DATABASE_CONN_MAX_AGE must be a whole number"),
        ("CACHE_URL", "memcached://cache1:11211", "CACHE_URL must be pymemcache://"),
        ("CACHE_URL", "pymemcache://", "CACHE_URL must be pymemcache://"),
        ("CACHE_URL", "pymemcache://cache1", "CACHE_URL: 'cache1' is not host:port"),
        ("CACHE_URL", "pymemcache://cache1:11211,", "CACHE_URL: '' is not host:port"),
        ("DJANGO_MEDIA_STORAGE", "{broken", "DJANGO_MEDIA_STORAGE is not valid JSON"),
        ("DJANGO_MEDIA_STORAGE", "[]", "DJANGO_MEDIA_STORAGE must be a JSON object with a BACKEND"),
        ("DJANGO_MEDIA_STORAGE", '{"OPTIONS": {}}', "DJANGO_MEDIA_STORAGE must be a JSON object"),
        ("DJANGO_MEDIA_STORAGE", '{"BACKEND": 1}', "DJANGO_MEDIA_STORAGE must be a JSON object"),
        (
            "DJANGO_MEDIA_STORAGE",
            '{"BACKEND": "x", "OPTIONS": []}',
            "DJANGO_MEDIA_STORAGE: OPTIONS must be a JSON object",
        ),
        ("DJANGO_HTTPS", "yes", "DJANGO_HTTPS must be 'true' or 'false'"),
        ("DJANGO_DEBUG", "1", "DJANGO_DEBUG must be 'true' or 'false'"),
        # Checked even over plain HTTP: turning HTTPS on later must not be what breaks it.
        ("DJANGO_HSTS_SECONDS", "1.5", "DJANGO_HSTS_SECONDS must be a whole number"),
    ],
)
def test_an_invalid_variable_is_named(name: str, value: str, message: str) -> None:
    assert message in _refusal({**REQUIRED, name: value})


def test_a_bad_database_url_does_not_show_its_password() -> None:
    # The message ends up in Apache's error log.
    message = _refusal({**REQUIRED, "DATABASE_URL": "postgres://app:topsecret@db:port/league"})
    assert "DATABASE_URL" in message and "topsecret" not in message


def test_the_repository_holds_no_settings_file() -> None:
    # The secrets come from the deploy only: nothing that looks like a settings file or an
    # environment file is committed.
    for pattern in ("app.json", "environment.json", ".env"):
        assert not list(SAMPLE_DJANGO.rglob(pattern)), pattern
