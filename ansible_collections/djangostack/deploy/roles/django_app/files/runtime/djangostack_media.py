"""Uploaded files on a WebDAV server shared by every web host: the lab's media server.

A Django storage (STORAGES["default"]), in every release beside the release runtime:

    {"BACKEND": "djangostack_media.WebDAVStorage",
     "OPTIONS": {"location": "http://172.30.20.51/", "base_url": "/media/"}}

The files live on the media server (roles/media_server: nginx's WebDAV module), never on
a web host, so a file uploaded through one web host is there for every other one, and
outlives the loss of any web or load-balancer host. The load balancers serve them at
base_url from the same server.

Two uploads never overwrite each other: a file goes to a temporary name first, then moves
to its own name with `Overwrite: F`, which the server refuses (412) when that name is
taken; the storage then picks another name, as FileSystemStorage does on O_EXCL.
"""

from __future__ import annotations

import http.client
import posixpath
import uuid
from typing import IO, Any
from urllib.parse import quote, urljoin, urlsplit

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible

# Alternative names to try before giving up, as Django's own get_available_name does.
MAX_ATTEMPTS = 100
CHUNK = 64 * 1024


class WebDAVError(OSError):
    """The media server answered something other than what the operation needs."""


@deconstructible(path="djangostack_media.WebDAVStorage")
class WebDAVStorage(Storage):
    def __init__(self, location: str = "", base_url: str = "/media/", timeout: float = 10) -> None:
        parts = urlsplit(location)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                f"WebDAVStorage needs OPTIONS.location, the media server's URL: got {location!r}"
            )
        self.location = location if location.endswith("/") else location + "/"
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self._server = parts
        self._prefix = parts.path if parts.path.endswith("/") else parts.path + "/"

    # One connection per request: the storage is shared by a daemon's threads, and an
    # upload is rare next to the pages.
    def _request(
        self, method: str, name: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn_class = (
            http.client.HTTPSConnection
            if self._server.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = conn_class(self._server.hostname, self._server.port, timeout=self.timeout)
        try:
            conn.request(method, self._path(name), body=body, headers=headers or {})
            response = conn.getresponse()
            payload = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        finally:
            conn.close()

    def _path(self, name: str) -> str:
        name = name.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise SuspiciousFileOperation(f"{name!r} is outside the media storage")
        return self._prefix + quote(name)

    def _fail(self, method: str, name: str, status: int, payload: bytes) -> WebDAVError:
        text = payload.decode("utf-8", "replace").strip()[:200]
        where = f"{method} {self.location}{name}"
        return WebDAVError(f"{where}: the media server answered {status} {text}")

    def _open(self, name: str, mode: str = "rb") -> File:
        status, _headers, payload = self._request("GET", name)
        if status == 404:
            raise FileNotFoundError(f"{name} is not on the media server")
        if status != 200:
            raise self._fail("GET", name, status, payload)
        file = ContentFile(payload, name=name)
        file.mode = mode
        return file

    def _save(self, name: str, content: IO[bytes] | File) -> str:
        # The temporary name sits beside the final one, in the same folder.
        temporary = posixpath.join(posixpath.dirname(name), f".upload-{uuid.uuid4().hex}")
        if hasattr(content, "seek"):
            content.seek(0)
        data = content.read()
        status, _headers, payload = self._request("PUT", temporary, body=data)
        if status not in (200, 201, 204):
            raise self._fail("PUT", temporary, status, payload)
        try:
            for _attempt in range(MAX_ATTEMPTS):
                destination = urljoin(
                    f"{self._server.scheme}://{self._server.netloc}", self._path(name)
                )
                status, _headers, payload = self._request(
                    "MOVE", temporary, headers={"Destination": destination, "Overwrite": "F"}
                )
                if status in (201, 204):
                    return name
                if status != 412:
                    raise self._fail("MOVE", temporary, status, payload)
                # Another upload took the name between get_available_name and here.
                name = self._another_name(name)
            raise WebDAVError(f"no free name like {name} after {MAX_ATTEMPTS} attempts")
        except BaseException:
            self._request("DELETE", temporary)
            raise

    def delete(self, name: str) -> None:
        status, _headers, payload = self._request("DELETE", name)
        if status not in (200, 204, 404):
            raise self._fail("DELETE", name, status, payload)

    def _head(self, name: str) -> dict[str, str] | None:
        status, headers, payload = self._request("HEAD", name)
        if status == 404:
            return None
        if status != 200:
            raise self._fail("HEAD", name, status, payload)
        return headers

    def exists(self, name: str) -> bool:
        return self._head(name) is not None

    def size(self, name: str) -> int:
        headers = self._head(name)
        if headers is None:
            raise FileNotFoundError(f"{name} is not on the media server")
        return int(headers.get("content-length", "0"))

    def url(self, name: str | None) -> str:
        return self.base_url + quote((name or "").replace("\\", "/"))

    def _another_name(self, name: str) -> str:
        """Another free-looking name for `name`, as Django's get_available_name picks one."""
        folder, base = posixpath.split(name)
        root, ext = posixpath.splitext(base)
        return posixpath.join(folder, self.get_alternative_name(root, ext))
