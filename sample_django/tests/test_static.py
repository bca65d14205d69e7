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


def test_production_storage_hashes_names_and_keeps_the_manifest_apart(
    tmp_path: Path, settings: Any
) -> None:
    """The names the pages link to carry a content hash (nginx_lb caches them a year),
    and the manifest that maps them is written outside STATIC_ROOT (into the release)."""
    from django.core.files.storage import FileSystemStorage
    from django.templatetags.static import static

    static_root, release = tmp_path / "static", tmp_path / "release"
    settings.STATIC_ROOT = str(static_root)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "sample_site.storage.ReleaseManifestStaticFilesStorage",
            "OPTIONS": {"manifest_storage": FileSystemStorage(location=release)},
        },
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (release / "staticfiles.json").is_file()
    assert not (static_root / "staticfiles.json").exists()
    url = static("league/site.css")
    assert url.startswith("/static/league/site.") and url != "/static/league/site.css"
    assert (static_root / url.removeprefix("/static/")).is_file()
