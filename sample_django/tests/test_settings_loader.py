from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from sample_site.config import SETTINGS_ENV, load_app_config

GOOD: dict[str, Any] = {
    "secret_key": "s3cret",
    "allowed_hosts": ["web1", "localhost"],
    "database": {"name": "league", "user": "app", "password": "pw"},
    "cache_servers": ["cache1:11211", "cache2:11211"],
    "static_root": "/srv/static",
    "media_root": "/srv/media",
    "api_token": "tok",
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_good_file_with_defaults(tmp_path: Path) -> None:
    conf = load_app_config(_write(tmp_path, GOOD))
    assert conf["database"] == {
        "name": "league",
        "user": "app",
        "password": "pw",
        "host": "127.0.0.1",
        "port": 5432,
    }
    assert conf["debug"] is False
    assert conf["cache_servers"] == ["cache1:11211", "cache2:11211"]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"nope\.json: settings file not found"):
        load_app_config(tmp_path / "nope.json")


@pytest.mark.parametrize("secret", [None, "", "   ", 42])
def test_missing_secret_key_names_the_key(tmp_path: Path, secret: Any) -> None:
    data = {k: v for k, v in GOOD.items() if k != "secret_key"}
    if secret is not None:
        data["secret_key"] = secret
    with pytest.raises(ImproperlyConfigured, match="missing key 'secret_key'"):
        load_app_config(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**GOOD, "database": None}, "missing key 'database'"),
        ({**GOOD, "database": {"name": "x", "user": "y"}}, "missing key 'database.password'"),
        ({**GOOD, "allowed_hosts": "web1"}, "'allowed_hosts' must be a list"),
        ({**GOOD, "cache_servers": ["cache1"]}, "'cache_servers' must be a list of 'host:port'"),
        ([], "top level must be a JSON object"),
        ("{broken", "not valid JSON"),
    ],
)
def test_invalid_files_name_the_problem(tmp_path: Path, data: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        load_app_config(_write(tmp_path, data))


def _import_production_settings() -> Any:
    sys.modules.pop("sample_site.settings", None)
    try:
        return importlib.import_module("sample_site.settings")
    finally:
        sys.modules.pop("sample_site.settings", None)


def test_production_settings_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTINGS_ENV, str(_write(tmp_path, GOOD)))
    prod = _import_production_settings()
    assert prod.SECRET_KEY == "s3cret"
    assert prod.DEBUG is False
    assert prod.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert prod.DATABASES["default"]["HOST"] == "127.0.0.1"
    cache = prod.CACHES["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.memcached.PyMemcacheCache"
    assert cache["LOCATION"] == ["cache1:11211", "cache2:11211"]
    assert cache["OPTIONS"]["ignore_exc"] is True
    assert prod.STATIC_ROOT == "/srv/static"
    assert prod.API_TOKEN == "tok"


def test_production_settings_without_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(ImproperlyConfigured, match=r"absent\.json: settings file not found"):
        _import_production_settings()


def test_the_repository_holds_no_settings_file() -> None:
    # The secret comes from the deploy only: nothing that looks like app.json is committed.
    root = Path(__file__).resolve().parents[1]
    assert not list(root.rglob("app.json"))


def test_https_and_hsts_default_off(tmp_path: Path) -> None:
    conf = load_app_config(_write(tmp_path, GOOD))
    assert conf["https"] is False
    assert conf["hsts_seconds"] == 0


@pytest.mark.parametrize("seconds", [-1, "300", 1.5, True])
def test_a_bad_hsts_max_age_names_the_key(tmp_path: Path, seconds: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="'hsts_seconds' must be"):
        load_app_config(_write(tmp_path, {**GOOD, "https": True, "hsts_seconds": seconds}))
