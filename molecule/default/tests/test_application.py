"""The application tier as a project sees it: the release runtime the deploy puts in every
release (the health check, the headers, the settings by their usual names), uploads on
the shared media server, pgpool with psycopg 3's iterators, one-off management commands,
and a deploy that refuses a release before it serves anyone."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

import pytest
from conftest import FRONT_DOOR, PREFIX, REPO, current_release, fetch, lab_host, run_playbook
from PIL import Image

from harness import lab
from harness.lab import MANAGE, docker, lab_secret, on_host, psql, wait_for, wait_until_serving

WEB1 = "http://127.0.0.1:8082"  # Apache on web1 alone
LB1 = "http://127.0.0.1:8081"  # nginx on lb1
RELEASE_ROOT = "/srv/djangostack"


def media(url: str) -> tuple[int, bytes]:
    """A media file's status and bytes (conftest's fetch decodes text)."""
    try:
        with lab.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, "PNG")
    return buffer.getvalue()


def upload_logo(base: str, team: str, name: str, content: bytes) -> tuple[int, dict]:
    """The sample app's write API: a team's logo, as multipart/form-data."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _headers, answer = fetch(
        f"{base}/api/teams/{team}/logo/",
        ("Authorization", f"Bearer {lab_secret('django_api_token')}"),
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        data=body,
    )
    return status, json.loads(answer) if answer.startswith("{") else {"body": answer}


def rendered_by(url: str, web: str, seconds: float = 10) -> str:
    """The body of `url` as `web` renders it (a fresh query string each try, past caches)."""
    found: list[str] = []

    def served() -> bool:
        _status, headers, body = fetch(f"{url}?n={time.time()}")
        found[:] = [body]
        return headers.get("X-Served-By") == web

    assert wait_for(served, seconds), f"{web} never answered {url}"
    return found[0]


def a_team() -> str:
    return psql(PREFIX + "db1", "SELECT abbreviation FROM league_team ORDER BY id LIMIT 1")


def test_the_health_check_and_headers_come_from_the_release_runtime() -> None:
    """The project has no /healthz/ of its own: the runtime answers it, names the host and
    the release, and sends X-Served-By and X-Release with every page."""
    status, headers, body = fetch(f"{WEB1}/healthz/")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok", body
    assert health["release"] == current_release("web1") == headers["X-Release"]
    assert (health["host"], headers["X-Served-By"]) == ("web1", "web1")
    assert headers["Cache-Control"] == "no-store"
    page = fetch(f"{WEB1}/standings/")[1]
    assert (page["X-Served-By"], page["X-Release"]) == ("web1", current_release("web1"))


def test_apache_serves_every_project_through_the_runtime_and_names_none() -> None:
    """A new project goes live when `current` moves, never by an Apache change."""
    config = on_host("web1", "sh", "-c", "cat /etc/apache2/sites-enabled/*.conf")
    assert f"WSGIScriptAlias / {RELEASE_ROOT}/current/runtime/release_runtime.py" in config
    assert "sample_site" not in config and "league" not in config


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_each_release_holds_its_settings_for_the_daemons_only(web: str) -> None:
    path = f"{RELEASE_ROOT}/current/environment.json"
    host = lab_host(web)
    settings = host.file(path)
    assert (settings.user, settings.group, settings.mode) == ("root", "www-data", 0o640)
    assert host.run(f"runuser -u nobody -- cat {path}").rc != 0
    values = json.loads(host.check_output(f"cat {path}"))
    assert values["DJANGO_SETTINGS_MODULE"] == "sample_site.settings"
    assert values["DATABASE_URL"].startswith("postgres://django:")
    assert values["DATABASE_URL"].endswith("@127.0.0.1:5432/django")
    assert values["CACHE_URL"].startswith("pymemcache://")
    assert values["DJANGOSTACK_RELEASE"] == current_release(web)
    media = json.loads(values["DJANGO_MEDIA_STORAGE"])
    assert media["BACKEND"] == "djangostack_media.WebDAVStorage"


def test_querysets_iterate_through_pgpool_with_psycopg3() -> None:
    """QuerySet.iterator() through web1's pgpool: with server-side cursors (psycopg 3's
    default, which some migrations use) pgpool fails the query; the release runtime turns
    them off, so the same iterator works. Both are shown here, in one process."""
    script = (
        "from django.db import connection\n"
        "from league.models import Game\n"
        "print('rows', sum(1 for _ in Game.objects.iterator(chunk_size=500)))\n"
        "connection.settings_dict['DISABLE_SERVER_SIDE_CURSORS'] = False\n"
        "try:\n"
        "    sum(1 for _ in Game.objects.iterator(chunk_size=500))\n"
        "except Exception as exc:\n"
        "    print('server-side cursors:', str(exc).splitlines()[0])\n"
    )
    out = on_host("web1", *MANAGE, "shell", "-c", script)
    games = psql(PREFIX + "db1", "SELECT count(*) FROM league_game")
    assert f"rows {games}" in out, out
    assert "server-side cursors: unable to execute Describe" in out, out


def test_an_upload_through_web1_is_served_by_the_front_door_while_web1_is_stopped() -> None:
    """The file lives on the shared media server, not on the web host that took it: read
    back through every tier, cached by Varnish, and still there with web1 down."""
    team, content = a_team(), png((200, 30, 30))
    status, answer = upload_logo(WEB1, team, f"drill-{uuid.uuid4().hex[:8]}.png", content)
    assert status == 201, answer
    url = f"{FRONT_DOOR}{answer['url']}"
    assert media(url) == (200, content)
    with lab.urlopen(url, timeout=10) as response:  # the second time, from Varnish's cache
        assert response.headers["Cache-Control"] == "public, max-age=86400"
        assert response.headers["X-Cache"] == "HIT"
    # web2 renders the team's page with it.
    page = f"{LB1}/teams/{team}/{psql(PREFIX + 'db1', 'SELECT max(year) FROM league_season')}/"
    assert f'src="{answer["url"]}"' in rendered_by(page, "web2")
    docker("stop", PREFIX + "web1")
    try:
        # Past Varnish's cache (a new query string), through lb1, from the media server.
        assert media(f"{url}?web1=down") == (200, content)
        assert media(f"{LB1}{answer['url']}") == (200, content)
    finally:
        docker("start", PREFIX + "web1")
        wait_until_serving("web1")
    assert lab_host("media1").file(f"/srv/djangostack-media/{answer['logo']}").exists


def test_two_uploads_of_one_name_never_overwrite_each_other() -> None:
    """The same file name through web1 and web2 (through lb1, which alternates): two
    files, each with its own content."""
    team, name = a_team(), f"same-{uuid.uuid4().hex[:8]}.png"
    first = upload_logo(WEB1, team, name, png((0, 0, 255)))[1]
    second = upload_logo(LB1, team, name, png((0, 255, 0)))[1]
    assert first["logo"] != second["logo"], (first, second)
    assert media(f"{LB1}{first['url']}") == (200, png((0, 0, 255)))
    assert media(f"{LB1}{second['url']}") == (200, png((0, 255, 0)))


def test_a_missing_media_file_is_cached_briefly_and_shows_once_uploaded() -> None:
    """A 404 on a media URL is kept for seconds, not Varnish's default two minutes: a file
    uploaded just after someone asked for it shows through the front door at once after."""
    name = f"later-{uuid.uuid4().hex[:8]}.png"
    url = f"{FRONT_DOOR}/media/team-logos/{name}"
    status, headers, _body = fetch(url)
    assert (status, headers["Cache-Control"]) == (404, "public, max-age=10"), headers
    assert fetch(url)[1]["X-Cache"] == "HIT"  # Varnish keeps the 404 (an error page: text) ...
    status, answer = upload_logo(WEB1, a_team(), name, png((9, 9, 9)))
    assert status == 201 and answer["url"] == f"/media/team-logos/{name}", answer
    # ... until it expires (10 s, then one more answer from grace while it refetches).
    assert wait_for(lambda: media(url)[0] == 200, 20, interval=1)


def test_manage_yml_runs_a_command_in_the_current_release_and_masks_its_secrets() -> None:
    """A one-off command with the release's settings, its output shown, and the secrets it
    prints (the release's own and the command's environment) masked in it."""
    secret = lab_secret("django_secret_key")
    extra = uuid.uuid4().hex
    run = run_playbook(
        "playbooks/manage.yml",
        "-e",
        json.dumps(
            {
                "manage_args": [
                    "shell",
                    "-c",
                    "import os; print('key', os.environ['DJANGO_SECRET_KEY']);"
                    " print('extra', os.environ['EXTRA_TOKEN']); print('ok')",
                ],
                "manage_environment": {"EXTRA_TOKEN": extra},
            }
        ),
    )
    assert run.returncode == 0, run.output
    assert "key ********" in run.output and "extra ********" in run.output, run.output
    assert secret not in run.output and extra not in run.output


def test_a_release_whose_pages_do_not_render_never_serves() -> None:
    """The staged release renders django_app_verify_urls on every web host before any
    traffic moves: a path that answers 404 stops the deploy, and nothing changed."""
    before = {web: current_release(web) for web in ("web1", "web2")}
    run = run_playbook(
        "playbooks/deploy.yml", "-e", '{"django_app_verify_urls": ["/", "/no-such-page/"]}'
    )
    assert run.returncode != 0
    assert "did not render /no-such-page/ with 200 (404 Not Found)" in run.output, run.output
    assert "nothing serving traffic changed" in run.output
    assert {web: current_release(web) for web in ("web1", "web2")} == before


def test_a_lock_that_does_not_fit_the_hosts_python_is_refused_naming_the_package(
    tmp_path: Path,
) -> None:
    """A lock resolved for another Python (Django 6.0 needs 3.12; the hosts run 3.11.2)
    stops the deploy at the build, before anything reaches a host, naming the package and
    both Pythons."""
    source = tmp_path / "sample_django"
    shutil.copytree(REPO / "sample_django", source, ignore=shutil.ignore_patterns("__pycache__"))
    wanted = source / "requirements.in"
    wanted.write_text(wanted.read_text().replace("Django>=5.1,<5.2", "Django>=6.0,<6.1"))
    subprocess.run(
        [Path(sys.executable).parent / "uv", "pip", "compile", "--quiet",
         "--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_28",
         "--only-binary", ":all:", "--generate-hashes",
         "--output-file", source / "requirements.txt", wanted],
        check=True,
    )  # fmt: skip
    before = {web: current_release(web) for web in ("web1", "web2")}
    run = run_playbook("playbooks/deploy.yml", "-e", f"django_app_source={source}")
    assert run.returncode != 0
    said = " ".join(run.output.split())  # Ansible folds long messages over lines
    assert re.search(
        r"django 6\.0\.\d+ requires Python >=3\.12; the web hosts run Python 3\.11\.2", said
    )
    assert "Install the locked requirements" not in run.output
    assert {web: current_release(web) for web in ("web1", "web2")} == before
