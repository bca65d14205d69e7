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
