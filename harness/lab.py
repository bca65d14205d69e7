"""What the drills share: the lab's front door, its containers, a load in the background,
and the table of figures each drill ends with.

Standard library only. Traffic goes to 127.0.0.1 and to the lab's own containers.
"""

from __future__ import annotations

import itertools
import os
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.cookiejar import Cookie, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import REPO, CommandFailed
from harness.http_load import LoadResult, PinnedHTTPSConnection, run_load

PREFIX = "djangostack-"  # the lab's container names: djangostack-<inventory host>
# The lab's secrets, generated on this controller (inventory/lab/group_vars/all/secrets.yml).
SECRETS = REPO / ".secrets" / "lab"

# The front door: hitch on varnish1 (HTTPS, a certificate from the lab's ACME server),
# published on 127.0.0.1:8443. No DNS knows the certificate's name, so clients connect to
# FRONT_DOOR_ADDRESS and send the name (SNI, Host), as curl's --resolve does, and trust
# the roots the lab's ACME server issued from (lab/lab.yml keeps each one it started with).
FRONT_DOOR_NAME = "www.djangostack.test"
FRONT_DOOR_PORT = 8443
FRONT_DOOR = f"https://{FRONT_DOOR_NAME}:{FRONT_DOOR_PORT}/"
FRONT_DOOR_ADDRESS = "127.0.0.1"
ACME_ROOTS = SECRETS / "acme" / "roots.pem"
# Varnish's port 80, published on 127.0.0.1:8080: the ACME challenge and a redirect only.
PLAIN_FRONT_DOOR = "http://127.0.0.1:8080/"
# curl's options for the front door's URLs.
CURL_FRONT_DOOR = (
    "--resolve",
    f"{FRONT_DOOR_NAME}:{FRONT_DOOR_PORT}:{FRONT_DOOR_ADDRESS}",
    "--cacert",
    str(ACME_ROOTS),
)


def is_front_door(url: str) -> bool:
    """Whether `url` is one of the front door's HTTPS URLs (its name and port)."""
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port) == ("https", FRONT_DOOR_NAME, FRONT_DOOR_PORT)


def load_options(url: str | Sequence[str]) -> dict[str, str]:
    """run_load's options for `url`: the front door's address and roots for its URLs,
    nothing for the others."""
    first = url if isinstance(url, str) else url[0]
    if is_front_door(first):
        return {"cafile": str(ACME_ROOTS), "resolve": FRONT_DOOR_ADDRESS}
    return {}


def pinned(url: str) -> tuple[str, dict[str, str]]:
    """`url` for a client that can only be given a URL and headers (wrk, locust's
    geventhttpclient): a front door URL at FRONT_DOOR_ADDRESS, with the Host header that
    names the site; any other URL as it is, with no header. Such a client sends no SNI
    for an address (hitch has one certificate: it answers with it) and must check the
    certificate against FRONT_DOOR_NAME itself, if at all (wrk does not)."""
    if not is_front_door(url):
        return url, {}
    parts = urlsplit(url)
    at_address = parts._replace(netloc=f"{FRONT_DOOR_ADDRESS}:{FRONT_DOOR_PORT}")
    return urlunsplit(at_address), {"Host": parts.netloc}


class _FrontDoorHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's HTTPS for the front door's name: to FRONT_DOOR_ADDRESS, verified against
    ACME_ROOTS."""

    def https_open(self, req: urllib.request.Request) -> Any:
        if req.host != f"{FRONT_DOOR_NAME}:{FRONT_DOOR_PORT}":
            return super().https_open(req)
        context = ssl.create_default_context(cafile=str(ACME_ROOTS))

        def pinned(host: str, **options: Any) -> PinnedHTTPSConnection:
            return PinnedHTTPSConnection(host, None, FRONT_DOOR_ADDRESS, **options)

        return self.do_open(pinned, req, context=context)


_OPENER = urllib.request.build_opener(_FrontDoorHTTPSHandler())


def urlopen(url: str | urllib.request.Request, timeout: float = 10) -> Any:
    """urllib.request.urlopen that also reaches the front door's HTTPS URLs."""
    return _OPENER.open(url, timeout=timeout)


# The tiers behind the TLS terminator, published on loopback for the tests that bypass
# the front door: nginx on lb1 (127.0.0.1:8081) and Apache on web1 (127.0.0.1:8082).
# Django's session and CSRF cookies are Secure, and over HTTPS (its CSRF check then asks
# for an HTTPS Referer), because visitors only ever reach it through hitch. A client that
# signs in or posts to these tiers over plain HTTP plays the terminator's part: it sends
# TERMINATOR_HEADERS (Django trusts X-Forwarded-Proto, SECURE_PROXY_SSL_HEADER; nginx
# replaces it with its own scheme for anyone but Varnish, so only web1 direct sees https),
# and its cookie jar returns the Secure cookies over HTTP to these loopback addresses
# (TerminatorCookiePolicy): on loopback there is no network to keep them from.
TERMINATOR_HEADERS = {"X-Forwarded-Proto": "https"}
LOOPBACK = ("127.0.0.1", "localhost")


def behind_terminator(url: str) -> bool:
    """Whether `url` reaches a tier behind the TLS terminator directly: plain HTTP on
    loopback (the lab's published ports; Varnish's own port 80 only redirects)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in LOOPBACK


class TerminatorCookiePolicy(DefaultCookiePolicy):
    """The default policy, except that Secure cookies also go back over plain HTTP to the
    tiers behind the terminator (behind_terminator), as they would through it."""

    def return_ok_secure(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return behind_terminator(request.get_full_url()) or super().return_ok_secure(
            cookie, request
        )


def lab_secret(name: str) -> str:
    """One of the lab's generated secrets (mode 0600 on this controller)."""
    path = SECRETS / name
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run `make up` first (it generates the secrets)")
    return path.read_text().split()[0]


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """One docker CLI call; its standard output."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    ).stdout


def on_host(host: str, *command: str, check: bool = True) -> str:
    """A command inside a lab host's container."""
    return docker("exec", PREFIX + host, *command, check=check)


def psql(
    container: str,
    sql: str,
    database: str = "django",
    *,
    user: str | None = "postgres",
    options: Sequence[str] = ("-XAt",),
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
) -> str:
    """psql inside a container (a lab host's is PREFIX + host): what it printed, stripped.

    As `user` (runuser: by default the postgres superuser over the local socket) on
    `database`; with user=None as the container's own user, a client: `database` is then
    a connection string ('host=... dbname=... user=...') and `env` holds PGPASSWORD (passed
    by name, never on a command line). check: raise CommandFailed, psql's error in it,
    when psql fails; else return what it printed (nothing when the node is down)."""
    runuser = ["runuser", "-u", user, "--"] if user else []
    argv = ["docker", "exec", *(f"--env={name}" for name in env or {}), container, *runuser]
    argv += ["psql", *options, "-d", database, "-c", sql]
    proc = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(proc.returncode, argv, proc.stdout, proc.stderr)
    return proc.stdout.strip()


# A management command in a web host's current release, as the django_app role runs them:
# through the release runtime, with the release's settings, as the WSGI daemons' user.
MANAGE = (
    "runuser",
    "-u",
    "www-data",
    "--",
    "/srv/djangostack/current/venv/bin/python",
    "/srv/djangostack/current/runtime/release_runtime.py",
    "manage",
)


def current_release(host: str) -> str:
    """The release a web host's `current` link points at."""
    return Path(on_host(host, "readlink", "/srv/djangostack/current").strip()).name


# The error logs that say why a request failed, tier by tier (the drills' lab hosts).
ERROR_LOGS = {
    "lb1": "/var/log/nginx/error.log",
    "web1": "/var/log/apache2/error.log",
    "web2": "/var/log/apache2/error.log",
}


def tier_diagnostics(lines: int = 15) -> str:
    """Why requests failed, tier by tier: Varnish's health view of its backends (the
    latest probes of each, with their results; a sick one makes every miss a 503), then
    the last lines of each tier's error log."""
    health = on_host("varnish1", "varnishadm", "backend.list", "-p", check=False)
    return "\n".join(
        [f"--- varnish1: varnishadm backend.list -p\n{health}"]
        + [
            f"--- {host}:{path}\n" + on_host(host, "tail", "-n", str(lines), path, check=False)
            for host, path in ERROR_LOGS.items()
        ]
    )


class TimedOut(RuntimeError):
    """seconds_until's `ready` never came true in time."""


def seconds_until(ready: Callable[[], bool], seconds: float, interval: float, what: str) -> float:
    """Poll `ready` every `interval` seconds; the seconds it took to be true. Raises,
    naming `what`, after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if ready():
            return round(time.monotonic() - started, 1)
        time.sleep(interval)
    raise TimedOut(f"{what} after {seconds:.0f} s")


def wait_for(check: Callable[[], bool], seconds: float, interval: float = 0.5) -> bool:
    """seconds_until's polling, as a yes or no for a test's assert: whether `check` came
    true within `seconds` (asked once more at the deadline)."""
    try:
        seconds_until(check, seconds, interval, "not yet")
    except TimedOut:
        return check()
    return True


def served_by(url: str) -> str:
    """The app server that answered `url` (its X-Served-By), or '' when none did."""
    try:
        with urlopen(url, timeout=5) as response:
            return response.headers.get("X-Served-By", "")
    except OSError:
        return ""


def wait_until_serving(host: str, seconds: float = 120) -> float:
    """Seconds until a cache miss on the front door is served by `host`."""
    misses = (f"{FRONT_DOOR}?back={time.time():.0f}-{n}" for n in itertools.count())
    return seconds_until(
        lambda: served_by(next(misses)) == host,
        seconds,
        0.2,
        f"{host} does not serve the front door",
    )


class BackgroundLoad:
    """http_load.run_load in a thread, for the length of a `with` block (or its own
    bounds, whichever ends first); `.result` once the block is left."""

    def __init__(self, url: str | Sequence[str], **load: Any) -> None:
        self._stop = threading.Event()
        self._results: list[LoadResult] = []
        self._thread = threading.Thread(
            target=lambda: self._results.append(
                run_load(url, stop=self._stop, **{**load_options(url), **load})
            )
        )

    def __enter__(self) -> BackgroundLoad:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def elapsed(self) -> float:
        """Seconds since the load started: the time base of its LoadResult.window()."""
        return time.monotonic() - self.started

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish(stop=True)

    def finish(self, stop: bool = False) -> LoadResult:
        """Wait for the load to end (stopping it first when `stop`); its result."""
        if stop:
            self._stop.set()
        self._thread.join()
        return self.result

    @property
    def result(self) -> LoadResult:
        (result,) = self._results
        return result


def counts(counter: dict[str, int]) -> str:
    """'web1 43, web2 2,330': a counter in a table cell."""
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items())) or "-"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The table a drill ends with, in Markdown, ready for docs/."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
