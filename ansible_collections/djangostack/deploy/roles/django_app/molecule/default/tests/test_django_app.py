"""The django_app role: sample_django deployed by the role (converge.yml), then redeployed
with the role's own stage and activate entry points (redeploy.yml).

Pages are read from the lb host, across the network, as the load balancers will. The
tests run in file order: the release the converge deployed, then a new release staged
and activated while requests keep arriving, then a rollback. The rolling deploy across
several hosts (playbooks/deploy.yml, with Varnish's ban) is the stack scenario's.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import testinfra
from testinfra.host import Host

from harness import REPO
from harness.ansible_cli import run_scenario_playbook
from harness.lab import psql

ROOT = "/srv/djangostack"
STATIC_ROOT = "/var/www/djangostack/static"
# Requests a page every 50 ms until told to stop; prints one status code per request
# (000 for a refused or broken connection).
PROBE = """
import os, time, urllib.request, urllib.error
deadline = time.monotonic() + 300
while not os.path.exists('/tmp/probe.stop') and time.monotonic() < deadline:
    try:
        code = urllib.request.urlopen('http://app-web/standings/', timeout=10).status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except Exception:
        code = 0
    print(f'{code:03d}', flush=True)
    time.sleep(0.05)
"""


def host(name: str) -> Host:
    return testinfra.get_host(f"docker://app-{name}")


@pytest.fixture(scope="module")
def web() -> Host:
    return host("web")


@pytest.fixture(scope="module")
def lb() -> Host:
    return host("lb")


def get(lb: Host, path: str) -> tuple[int, dict[str, str], str]:
    """GET http://app-web<path> from the lb host: status, headers, body."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://app-web{path}', timeout=10)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    r = exc\n"
        "print(json.dumps([r.status, dict(r.headers), r.read().decode()]))\n"
    )
    status, headers, body = json.loads(lb.check_output("python3 -c %s", script))
    return status, headers, body


def current_release(web: Host) -> str:
    return Path(web.check_output(f"readlink {ROOT}/current")).name


def deploy(*args: str) -> str:
    """The role's stage, then activate: what deploy.yml runs on each web host."""
    run = run_scenario_playbook("redeploy.yml", *args, timeout=900)
    assert run.returncode == 0, run.output
    return run.output


def test_home_page_is_built_from_postgresql(web: Host, lb: Host) -> None:
    games = psql("app-db", "SELECT count(*) FROM league_game")
    assert int(games) > 500
    status, headers, body = get(lb, "/")
    assert status == 200
    assert headers["X-Served-By"] == "app-web"
    assert f"{games} games." in body
    assert "public" in headers["Cache-Control"]


def release_settings(web: Host) -> dict[str, str]:
    """The variables the role wrote for the current release (environment.json)."""
    return json.loads(web.check_output(f"cat {ROOT}/current/environment.json"))


def test_the_app_reaches_the_database_through_the_local_pgpool(web: Host) -> None:
    url = urlsplit(release_settings(web)["DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "postgres",
        "127.0.0.1",
        5432,
        "/django",
    )
    # Only pgpool answers SHOW pool_version, with the app's own credentials.
    password = unquote(url.password or "")
    conninfo = "host=127.0.0.1 user=django dbname=django"
    env = {"PGPASSWORD": password}
    version = psql(web.backend.name, "SHOW pool_version", conninfo, user=None, env=env)
    assert version.startswith("4.")


def test_healthz_reports_the_current_release(web: Host, lb: Host) -> None:
    status, headers, body = get(lb, "/healthz/")
    assert status == 200
    health = json.loads(body)
    assert health["checks"]["database"] == "ok"
    assert health["release"] == current_release(web)
    assert "no-store" in headers["Cache-Control"]


def test_the_mod_wsgi_daemons_run_the_release_unprivileged(web: Host, lb: Host) -> None:
    # display-name=%{GROUP}: the daemons show as (wsgi:app).
    daemons = web.check_output("pgrep -f '^\\(wsgi:app\\)'").split()
    assert daemons, "no mod_wsgi daemon process"
    users = {web.check_output(f"ps -o user= -p {pid}") for pid in daemons}
    assert users == {"www-data"}
    get(lb, "/healthz/")  # loads psycopg's C library in the daemon that answers
    # The kernel names mapped files by their real path: the release's own virtualenv.
    maps = "".join(web.check_output(f"cat /proc/{pid}/maps") for pid in daemons)
    assert f"{ROOT}/releases/{current_release(web)}/venv/lib/" in maps


def test_the_release_settings_are_readable_by_the_daemons_only(web: Host) -> None:
    path = f"{ROOT}/current/environment.json"
    settings = web.file(path)
    assert (settings.user, settings.group, settings.mode) == ("root", "www-data", 0o640)
    assert web.run(f"runuser -u nobody -- cat {path}").rc != 0
    assert web.run(f"runuser -u www-data -- cat {path}").rc == 0


def test_the_project_gets_the_conventional_variables(web: Host) -> None:
    settings = release_settings(web)
    assert settings["DJANGO_SETTINGS_MODULE"] == "sample_site.settings"
    assert len(settings["DJANGO_SECRET_KEY"]) == 50
    assert "app-web" in settings["DJANGO_ALLOWED_HOSTS"].split(",")
    assert settings["DJANGO_STATIC_ROOT"] == f"{ROOT}/releases/{current_release(web)}/static"
    assert settings["DJANGOSTACK_RELEASE"] == current_release(web)
    assert settings["LEAGUE_API_TOKEN"]  # django_app_environment's own
    # The scenario has no cache tier and no media server: a local cache, a local folder.
    assert settings["CACHE_URL"] == ""
    assert json.loads(settings["DJANGO_MEDIA_STORAGE"])["BACKEND"].endswith("FileSystemStorage")


def test_the_media_folder_is_the_daemons_own_before_any_upload(web: Host) -> None:
    """A page that saves a file must find the folder there and writable by the daemons."""
    folder = web.file("/var/www/djangostack/media")
    assert folder.is_directory and (folder.user, folder.group) == ("www-data", "www-data")


def test_migrations_are_applied(web: Host) -> None:
    web.check_output(
        f"runuser -u www-data -- {ROOT}/current/venv/bin/python "
        f"{ROOT}/current/runtime/release_runtime.py manage migrate --check --noinput"
    )


def test_static_files_are_served_by_the_lb_host_and_their_manifest_is_in_the_release(
    web: Host, lb: Host
) -> None:
    for name in ("admin/css/base.css", "league/site.css"):
        assert lb.file(f"{STATIC_ROOT}/{name}").is_file, name
    assert not web.file(STATIC_ROOT).exists
    # ManifestStaticFilesStorage reads it on the web host to name each file's hashed copy.
    assert web.file(f"{ROOT}/current/static/staticfiles.json").is_file


@pytest.fixture
def new_source(tmp_path: Path) -> Iterator[Path]:
    """sample_django with a visible change: a new release."""
    source = tmp_path / "sample_django"
    shutil.copytree(REPO / "sample_django", source, ignore=shutil.ignore_patterns("__pycache__"))
    base = source / "league/templates/league/base.html"
    base.write_text(base.read_text() + "\n<!-- release under test -->\n")
    yield source


def test_a_new_release_serves_every_request_and_rollback_returns(
    web: Host, lb: Host, new_source: Path
) -> None:
    first = current_release(web)
    lb.check_output("rm -f /tmp/probe.stop /tmp/probe.log")
    lb.check_output("nohup python3 -c %s > /tmp/probe.log 2>&1 &", PROBE)
    try:
        deploy("-e", f"django_app_source={new_source}")
    finally:
        lb.check_output("touch /tmp/probe.stop")
        time.sleep(1)
    second = current_release(web)
    assert second != first
    assert Path(web.check_output(f"readlink {ROOT}/previous")).name == first
    status, _headers, body = get(lb, "/healthz/")
    assert (status, json.loads(body)["release"]) == (200, second)
    assert "release under test" in get(lb, "/")[2]
    codes = lb.check_output("cat /tmp/probe.log").split()
    # Requests kept arriving through the switch and the graceful reload: none failed.
    assert len(codes) > 20
    assert set(codes) == {"200"}, f"{len(codes)} requests, not all served: {sorted(set(codes))}"

    # The same code again is the same release: nothing changes.
    again = run_scenario_playbook(
        "redeploy.yml", "-e", f"django_app_source={new_source}", timeout=900
    )
    assert again.returncode == 0 and again.changed_hosts() == {}, again.output

    deploy("-e", "django_app_rollback=true")
    assert current_release(web) == first
    assert Path(web.check_output(f"readlink {ROOT}/previous")).name == second
    status, _headers, body = get(lb, "/healthz/")
    assert (status, json.loads(body)["release"]) == (200, first)
    assert "release under test" not in get(lb, "/")[2]
