"""What every release gets from the deploy, whatever the project: djangostack's release runtime.

The django_app role puts this file in each release, at <release>/runtime/, beside the
project (<release>/src), its virtualenv (<release>/venv) and the settings the role writes
for it (<release>/environment.json: the variables a Django project reads by convention,
DATABASE_URL, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, ...). It is, at once:

- the WSGI script mod_wsgi loads (apache_modwsgi_wsgi_script: <root>/current/runtime/
  release_runtime.py). Its path never names the project, so Apache's configuration does
  not change when the project does: a new project goes live only when `current` moves.
  It answers the health check itself and names the host and release on every response;
- the command line the deploy and operators run the project's management commands with,
  and verify a staged release with, before any traffic reaches it:

    <release>/venv/bin/python <release>/runtime/release_runtime.py manage migrate --noinput
    <release>/venv/bin/python <release>/runtime/release_runtime.py verify / /admin/login/

The project needs nothing from here: it reads its environment as it would anywhere.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# <release>/runtime/release_runtime.py: resolved, so that `current` names the release it
# points to when the process starts, and keeps naming it after the link moves.
RELEASE_DIR = Path(__file__).resolve().parent.parent
ENVIRONMENT_FILE = RELEASE_DIR / "environment.json"
HEALTH_PATH = "/healthz/"
HOSTNAME = socket.gethostname()

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def load_environment(path: Path = ENVIRONMENT_FILE) -> None:
    """Put the release's settings into this process's environment, before Django loads.

    They win over what the process inherited: the deploy is the only source of a
    release's settings (an operator's stale export must not point it at another database).
    """
    values = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: not a JSON object")
    os.environ.update({str(key): str(value) for key, value in values.items()})
    # The project first, then the runtime's own modules (djangostack_media, the lab's
    # media storage), which a setting may name.
    sys.path[:0] = [str(RELEASE_DIR / "src"), str(RELEASE_DIR / "runtime")]


def apply_stack_defaults() -> None:
    """Settings the stack needs, whatever the project's settings say.

    Each web host reaches PostgreSQL through pgpool-II, which cannot Describe a portal
    that SQL's DECLARE opened: psycopg 3's server-side cursors (QuerySet.iterator(), used
    by some migrations) fail with "unable to execute Describe ... unable to get the bind
    message" (psycopg/psycopg#648). Without them Django fetches an iterator's rows in
    chunks on the client instead. Set, not defaulted: dj-database-url, which most
    projects read DATABASE_URL with, always says False.
    """
    from django.conf import settings

    for database in settings.DATABASES.values():
        if "postgresql" in database.get("ENGINE", ""):
            database["DISABLE_SERVER_SIDE_CURSORS"] = True


def health() -> tuple[int, dict[str, Any]]:
    """200 when the database answers, 503 when it does not.

    The cache is checked (a set/get round trip) and reported, but a failed cache makes the
    status "degraded", not 503: pages work without memcached (a lost node is a miss), and
    a 503 would make the load balancers drop every web host at once for one cache node.
    """
    from django.core.cache import cache
    from django.db import DatabaseError, connection

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"failed: {exc.__class__.__name__}"
    finally:
        # Django closes a request's expired connections at its end; this path is no request.
        connection.close_if_unusable_or_obsolete()

    # A key of this check's own: two checks at once (a probe through each load balancer,
    # a deploy's wait) on one key read back each other's value, a "missed round trip" on
    # a healthy cache.
    token = secrets.token_hex(8)
    key = f"djangostack-healthz:{HOSTNAME}:{token}"
    try:
        cache.set(key, token, 30)
        checks["cache"] = "ok" if cache.get(key) == token else "failed: round trip missed"
        cache.delete(key)
    except Exception as exc:  # any backend error is a failed check, never a 500
        checks["cache"] = f"failed: {exc.__class__.__name__}"

    failed = [name for name, result in checks.items() if result != "ok"]
    status = "failed" if checks["database"] != "ok" else "degraded" if failed else "ok"
    body = {
        "status": status,
        "host": HOSTNAME,
        "release": os.environ.get("DJANGOSTACK_RELEASE", "unknown"),
        "checks": checks,
        "failed": failed,
    }
    return (503 if status == "failed" else 200), body


def wrap(django_app: WSGIApp) -> WSGIApp:
    """The project's WSGI application, with the health check and the identifying headers.

    X-Served-By names the web host (the drills see the balancing), X-Release the release
    that rendered the response: Varnish keeps it on each cached page, and a deploy bans
    exactly the pages an older release rendered.
    """
    release = os.environ.get("DJANGOSTACK_RELEASE", "unknown")
    ours = {"x-served-by", "x-release"}

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() not in ours]
            headers += [("X-Served-By", HOSTNAME), ("X-Release", release)]
            return start_response(status, headers, exc_info)

        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") == HEALTH_PATH and method in ("GET", "HEAD"):
            code, body = health()
            payload = json.dumps(body).encode()
            start(
                f"{code} {'OK' if code == 200 else 'Service Unavailable'}",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(payload))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [payload] if method == "GET" else []
        return django_app(environ, start)

    return application


def make_application() -> WSGIApp:
    load_environment()
    import django
    from django.core.handlers.wsgi import WSGIHandler

    apply_stack_defaults()
    django.setup(set_prefix=False)
    return wrap(WSGIHandler())


def render(app: WSGIApp, path: str, host: str, https: bool) -> tuple[str, bytes]:
    """GET `path` through the WSGI application in this process, as a load balancer would."""
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "HTTP_HOST": host,
        "SERVER_NAME": host,
        "SERVER_PORT": "443" if https else "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }
    if https:
        # What the load balancers pass on from the front door (SECURE_PROXY_SSL_HEADER).
        environ["HTTP_X_FORWARDED_PROTO"] = "https"
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return status[0], body


def verify(paths: list[str]) -> int:
    """Render each path on this release, in this process, before it serves anyone.

    Every path must answer 200 (redirects are not followed: a page that redirects is not
    the page asked for), and the health check must pass. Prints one JSON line per path.
    """
    app = make_application()
    from django.conf import settings

    hosts = [h for h in settings.ALLOWED_HOSTS if h and not h.startswith(".") and h != "*"]
    host = hosts[0] if hosts else "localhost"
    https = os.environ.get("DJANGO_HTTPS", "false").lower() == "true"
    failed = 0
    for path in [HEALTH_PATH, *paths]:
        status, body = render(app, path, host, https)
        ok = status.startswith("200 ")
        failed += not ok
        detail = "" if ok else body.decode("utf-8", "replace")[:300]
        print(json.dumps({"path": path, "status": status, "ok": ok, "detail": detail}))
    return 1 if failed else 0


def manage(argv: list[str]) -> None:
    """manage.py, with the release's settings (the project's own manage.py may not exist)."""
    load_environment()
    from django.core.management import execute_from_command_line

    apply_stack_defaults()
    execute_from_command_line(["manage.py", *argv])


def main(argv: list[str]) -> int:
    usage = "usage: release_runtime.py manage ARGS... | verify PATH..."
    if not argv or argv[0] not in ("manage", "verify"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "manage":
        manage(argv[1:])
        return 0
    return verify(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
elif __name__.startswith("_mod_wsgi_"):
    # mod_wsgi loads a WSGI script as a module of this name; the tests import it as theirs.
    application = make_application()
