"""Static files with hashed names, for servers that are not the ones serving them."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.files.storage import FileSystemStorage

from sample_site.settings_common import BASE_DIR


class ReleaseManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """ManifestStaticFilesStorage with its manifest in the project, not in STATIC_ROOT.

    The collected files go to the load balancers, which serve them; the web hosts have no
    STATIC_ROOT, yet `{% static %}` needs the manifest to name each file's hashed copy. So
    collectstatic (run once per release, on the controller) writes the manifest into the
    project directory, and it ships inside the release.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("manifest_storage", FileSystemStorage(location=BASE_DIR))
        super().__init__(*args, **kwargs)
