"""The collection as a Galaxy user gets it: built, installed offline, used from elsewhere.

The tarball must carry the roles and playbooks and leave the lab, tests and sample app
behind. Installed into a temporary path, its memcached role then runs from a playbook
outside the repository against a throwaway systemd container, made by lab/lab.yml
from a one-host inventory of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import COLLECTION
from harness.ansible_cli import run_ansible, run_playbook

CONTAINER_PREFIX = "djangostack-galaxytest-"
NETWORK = "djangostack-galaxytest"
ADDRESS = "172.30.90.11"

USER_PLAYBOOK = """
- name: Cache tier, from the installed collection
  hosts: cache
  roles:
    - role: djangostack.deploy.memcached
      vars:
        memcached_memory_mb: 32
"""


def one_host_lab(tmp_path: Path) -> Path:
    """An inventory for lab/lab.yml and the user playbook: one cache host."""
    host_vars = {
        "ansible_connection": "community.docker.docker",
        "ansible_host": f"{CONTAINER_PREFIX}cache1",
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_image": "djangostack/lab-base:bookworm",
        "lab_networks": {NETWORK: "172.30.90.0/24"},
        "lab_host_networks": {NETWORK: ADDRESS},
    }
    inventory = {
        "all": {
            "children": {
                "lab": {"hosts": {"cache1": host_vars}},
                "cache": {"hosts": {"cache1": None}},
            }
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    run_ansible(
        "ansible-galaxy", "collection", "build", "--output-path", out, cwd=COLLECTION, check=True
    )
    (built,) = out.glob("djangostack-deploy-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    collections = tmp_path_factory.mktemp("user") / "collections"
    run_ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        # Install even when a copy sits in ~/.ansible (ansible-lint puts one there).
        "--force",
        "-p",
        collections,
        tarball,
        cwd=tarball.parent,
        check=True,
    )
    return collections


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    inventory = one_host_lab(tmp_path_factory.mktemp("lab"))
    try:
        assert run_playbook("lab/lab.yml", "-i", inventory).returncode == 0
        yield inventory
    finally:
        run_playbook("lab/lab.yml", "-i", inventory, "-e", "lab_state=absent")


def test_tarball_holds_the_collection_and_nothing_else(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert "roles/memcached/tasks/main.yml" in names
    assert "roles/memcached/meta/argument_specs.yml" in names
    assert "playbooks/site.yml" in names
    assert "MANIFEST.json" in names
    assert "LICENSE" in names
    for left_out in ("lab", "tests", "sample_django", "inventory/lab", "collections", ".venv"):
        assert not any(n == left_out or n.startswith(left_out + "/") for n in names), left_out
    assert not any("/molecule/" in n for n in names)
    assert "lab/lab.yml" not in names


# A module, filter or lookup of another collection, called by its full name in YAML or a
# template; in Python, an import from another collection.
OTHER_COLLECTION = {
    ".yml": re.compile(
        r"\b(community\.[a-z_]+|amazon\.aws|ansible\.(?!builtin\b|legacy\b)[a-z_]+)\.[a-z_]+"
    ),
    ".py": re.compile(r"\bansible_collections\.(?!djangostack\.deploy\b)([a-z_]+\.[a-z_]+)\."),
}
OTHER_COLLECTION[".j2"] = OTHER_COLLECTION[".yml"]


def test_tarball_declares_every_collection_its_content_calls(tarball: Path) -> None:
    """A Galaxy user's ansible-galaxy installs what galaxy.yml declares: a role calling a
    collection it does not declare fails on their machine, not on ours."""
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
        called = set()
        for member in tar.getmembers():
            pattern = OTHER_COLLECTION.get(Path(member.name).suffix)
            if member.isfile() and pattern:
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                called |= set(pattern.findall(text))
    declared = set(manifest["collection_info"]["dependencies"])
    assert called, "no call to another collection found: the pattern is broken"
    assert called <= declared, f"called but not declared in galaxy.yml: {called - declared}"
    assert manifest["collection_info"]["license"] == ["Apache-2.0"]


def test_installed_role_runs_from_a_playbook_outside_the_repository(
    installed: Path, lab_host: Path, tmp_path: Path
) -> None:
    project = tmp_path / "user_project"
    project.mkdir()
    (project / "cache.yml").write_text(USER_PLAYBOOK)
    # Only the installed collection (and those bundled with the ansible package): the
    # checkout's collections/ symlink and ansible.cfg are out of reach from here.
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_CONFIG": ""}
    run = run_playbook("cache.yml", "-i", lab_host, cwd=project, env=env)
    assert run.returncode == 0
    # With those settings, the installed copy is the only djangostack.deploy in reach.
    assert collection_locations(env, project) == [f"{installed}/ansible_collections"]

    reply = subprocess.run(
        [
            "docker",
            "exec",
            f"{CONTAINER_PREFIX}cache1",
            "bash",
            "-c",
            f"exec 3<>/dev/tcp/{ADDRESS}/11211 && printf 'stats settings\\r\\nquit\\r\\n' >&3"
            " && timeout 5 cat <&3",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"STAT maxbytes {32 * 1024 * 1024}" in reply.splitlines()
    assert f"STAT inter {ADDRESS}" in reply.splitlines()


def collection_locations(env: dict[str, str], cwd: Path) -> list[str]:
    """The paths where ansible-galaxy finds djangostack.deploy with the given settings."""
    listing = run_ansible(
        "ansible-galaxy", "collection", "list", "djangostack.deploy", cwd=cwd, env=env, check=True
    ).stdout
    return [line.removeprefix("# ") for line in listing.splitlines() if line.startswith("# ")]
