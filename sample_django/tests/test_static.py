from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command


def test_collectstatic_includes_the_admin_and_the_app(tmp_path: Path, settings: Any) -> None:
    settings.STATIC_ROOT = str(tmp_path / "static")
    call_command("collectstatic", "--noinput", verbosity=0)
    root = Path(settings.STATIC_ROOT)
    assert (root / "admin" / "css" / "base.css").is_file()
    assert (root / "league" / "site.css").is_file()


def test_production_storage_hashes_names_and_finds_its_manifest_in_static_root(
    tmp_path: Path, settings: Any
) -> None:
    """The names the pages link to carry a content hash (nginx_lb caches them a year), and
    Django's own manifest storage finds the manifest in STATIC_ROOT, which the deploy
    ships inside each release."""
    from django.templatetags.static import static

    static_root = tmp_path / "static"
    settings.STATIC_ROOT = str(static_root)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (static_root / "staticfiles.json").is_file()
    url = static("league/site.css")
    assert url.startswith("/static/league/site.") and url != "/static/league/site.css"
    assert (static_root / url.removeprefix("/static/")).is_file()
