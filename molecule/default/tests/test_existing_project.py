"""A Django project nobody here wrote, deployed as a new user would (docs/existing-project.md).

The project is the site Wagtail (a CMS) generates from its own project template, fetched
from PyPI when the test runs. It gains one file, docs/examples/djangostack_settings.py as
its settings module; its code is otherwise as generated. Its lock is resolved by
playbooks/lock.yml, it goes live with playbooks/deploy.yml, an image is uploaded with
playbooks/manage.yml, and its pages, its admin and the image answer through the front
door from both web hosts, the image also with web1 stopped. The sample app is deployed
back at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FRONT_DOOR, PREFIX, REPO, current_release, fetch, run_playbook

from harness import lab
from harness.lab import docker, wait_for, wait_until_serving

# Its template's requirements (Django 5.2) share the sample app's database: Django 5.2's
# own apps have the same migrations as 5.1's.
WAGTAIL = "wagtail>=7.0,<7.1"
SETTINGS = REPO / "docs" / "examples" / "djangostack_settings.py"
# What the settings module needs beside the project's own requirements.
STACK_REQUIREMENTS = ["psycopg[binary]>=3.2,<3.4", "dj-database-url>=2.2,<3", "pymemcache>=4,<5"]
WELCOME = "Welcome to your new Wagtail site!"


def run(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The generated site, its lock, and the deploy's variables for it; deployed."""
    root = tmp_path_factory.mktemp("existing-project")
    uv = Path(sys.executable).parent / "uv"
    run(uv, "venv", "--quiet", "--python", sys.executable, root / "venv")
    run(uv, "pip", "install", "--quiet", "--python", root / "venv" / "bin" / "python", WAGTAIL)
    site = root / "mysite"
    site.mkdir()
    run(root / "venv" / "bin" / "wagtail", "start", "mysite", site)
    shutil.copy(SETTINGS, site / "mysite" / "settings" / "djangostack.py")
    deploy = root / "deploy"
    deploy.mkdir()
    (deploy / "requirements.in").write_text(
        "\n".join(["-r ../mysite/requirements.txt", *STACK_REQUIREMENTS]) + "\n"
    )
    variables = {
        "django_app_source": str(site),
        "django_app_requirements": str(deploy / "requirements.lock"),
        "django_app_settings_module": "mysite.settings.djangostack",
        "django_app_verify_urls": ["/", "/admin/login/"],
        # The sample app's data generator is no command of this project.
        "django_app_setup_commands": [],
    }
    lock = run_playbook(
        "playbooks/lock.yml",
        "-e", json.dumps(variables | {"lock_requirements_in": str(deploy / "requirements.in")}),
    )  # fmt: skip
    assert lock.returncode == 0, lock.output
    before = current_release("web1")
    deployed = run_playbook("playbooks/deploy.yml", "-e", json.dumps(variables))
    try:
        assert deployed.returncode == 0, deployed.output
        assert current_release("web1") == current_release("web2") != before
        yield {"extra_vars": json.dumps(variables), "root": str(root)}
    finally:
        back = run_playbook("playbooks/deploy.yml")
        assert back.returncode == 0, back.output


def served_by_both(path: str, expect: str) -> None:
    """`path` through the front door answers 200 with `expect`, from web1 and from web2."""
    seen: set[str] = set()

    def both() -> bool:
        status, headers, body = fetch(f"{FRONT_DOOR}{path}?n={time.time()}")
        assert status == 200 and expect in body, (status, headers, body[:500])
        seen.add(headers["X-Served-By"])
        return seen == {"web1", "web2"}

    assert wait_for(both, 20), seen


def test_its_pages_and_admin_answer_from_both_web_hosts(project: dict[str, str]) -> None:
    served_by_both("/", WELCOME)
    served_by_both("/admin/login/", "Sign in")


def test_its_lock_was_resolved_for_the_hosts_python(project: dict[str, str]) -> None:
    lock = (Path(project["root"]) / "deploy" / "requirements.lock").read_text()
    python = lab.on_host(
        "web1", "python3", "-c", "import platform; print(platform.python_version())"
    )
    assert f"for Python {python.strip()}" in lock
    assert "--hash=sha256:" in lock


def test_an_image_uploaded_on_web1_is_served_with_web1_stopped(project: dict[str, str]) -> None:
    """An image saved through Wagtail's model on web1 (manage.yml, a one-off command in the
    current release) lands on the media server; the original and a rendition Wagtail made
    of it answer through the front door with web1 stopped."""
    script = (
        "import io\n"
        "from django.core.files.images import ImageFile\n"
        "from PIL import Image as Picture\n"
        "from wagtail.images.models import Image\n"
        "buffer = io.BytesIO(); Picture.new('RGB', (64, 48), (10, 120, 200)).save(buffer, 'PNG')\n"
        "image = Image(title='stack test', file=ImageFile(buffer, name='stack-test.png'))\n"
        "image.save()\n"
        "print('original', image.file.url)\n"
        "print('rendition', image.get_rendition('width-32').url)\n"
    )
    upload = run_playbook(
        "playbooks/manage.yml",
        "-e", json.dumps({"manage_args": ["shell", "-c", script], "manage_host": "web1"}),
    )  # fmt: skip
    assert upload.returncode == 0, upload.output
    urls = dict(re.findall(r"(original|rendition) (/media/\S+?\.png)", upload.output))
    assert set(urls) == {"original", "rendition"}, upload.output
    docker("stop", PREFIX + "web1")
    try:
        for url in urls.values():
            with lab.urlopen(f"{FRONT_DOOR}{url}", timeout=10) as response:
                assert response.status == 200
                assert response.read()[:4] == b"\x89PNG"
    finally:
        docker("start", PREFIX + "web1")
        wait_until_serving("web1")
