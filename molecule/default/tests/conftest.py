"""What the whole-stack tests share: the lab's hosts, seen from the controller.

The tests look at the stack from the outside, as a user and an operator would: HTTP on
127.0.0.1 (the published ports; the front door's HTTPS name pinned there), commands inside
the lab's containers (testinfra's docker backend, no Ansible round trip per command), the
stack's own playbooks and drills.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
import testinfra
import yaml
from testinfra.host import Host

from harness import REPO, lab
from harness.ansible_cli import PlaybookRun, list_inventory, run_playbook
from harness.lab import PREFIX, current_release

INVENTORY = REPO / "inventory" / "lab"
HOSTS = [
    "varnish1", "lb1", "web1", "web2", "witness1", "cache1", "cache2", "db1", "db2", "media1",
    "backup1",
]  # fmt: skip
# hitch and Varnish on varnish1 (https://www.djangostack.test:8443, pinned to 127.0.0.1),
# without the slash: the tests add the path.
FRONT_DOOR = lab.FRONT_DOOR.rstrip("/")

__all__ = [
    "INVENTORY",
    "PREFIX",
    "REPO",
    "PlaybookRun",
    "current_release",
    "list_inventory",
    "run_playbook",
]

# The playbooks and drills these tests run must see the lab as `make up` does: Molecule
# hands its verifier the scenario's generated ansible.cfg, which names no inventory.
os.environ["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")


# Run after everything else: site.yml must change nothing on the stack after the drills
# too (the failover cycles move the primary away and back).
LAST = "test_the_lab_inventory_finds_nothing_to_change"


# Files that break things on purpose, in the order they run after every check of the
# healthy stack: the playbooks' refusals (which must change nothing), then the drills.
BREAKING = {"test_refusals.py": 1, "test_drills.py": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The refusals and the drills run after every check of the healthy stack, whatever
    the file order, and LAST after them."""
    items.sort(key=lambda item: (item.name == LAST, BREAKING.get(item.path.name, 0)))


def lab_host(name: str) -> Host:
    return testinfra.get_host(f"docker://{PREFIX}{name}")


def addresses(name: str) -> dict[str, str]:
    """The host's fixed address on each lab network, from the inventory."""
    host_vars = yaml.safe_load((INVENTORY / "host_vars" / f"{name}.yml").read_text())
    return host_vars["lab_host_networks"]


def address(name: str, network: str) -> str:
    return addresses(name)[f"djangostack-{network}"]


def fetch(
    url: str, *headers: tuple[str, str], data: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    """One HTTP request from the controller: status, headers, body (errors included). The
    front door's URLs over HTTPS, its certificate verified (harness.lab.urlopen)."""
    request = urllib.request.Request(url, headers=dict(headers), data=data)
    try:
        with lab.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def app_health(web: str) -> dict:
    """/healthz/ of one app server, asked from lb1 as the load balancer asks it."""
    url = f"http://{address(web, 'app')}/healthz/"
    answer = lab_host("lb1").check_output(
        "python3 -c %s",
        f"import urllib.request; print(urllib.request.urlopen('{url}').read().decode())",
    )
    return json.loads(answer)
