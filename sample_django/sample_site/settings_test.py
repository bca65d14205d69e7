"""Settings for the tests: SQLite and a local-memory cache, no environment needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sample_site.settings_common import *  # noqa: F403

SECRET_KEY = "test-only-not-a-secret"  # fixed on purpose: tests only
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
API_TOKEN = "test-api-token"
RELEASE = "development"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Outside the checkout: a collectstatic run with these settings leaves nothing to commit.
STATIC_ROOT = str(Path(tempfile.gettempdir()) / "djangostack-sample-static")
# Tests that store files point STORAGES["default"] at a folder of their own (tmp_path).
MEDIA_ROOT = str(Path(tempfile.gettempdir()) / "djangostack-sample-media")

# Fast hashing: the tests create users, they do not measure password strength.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
