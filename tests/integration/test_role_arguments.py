"""Bad input fails before anything changes, and the failure names the variable.

argument_specs and the preflight checks run on the controller, so these plays target
localhost with a local connection: if a check let bad input through, the next task would
try to install memcached on this machine and the test would see it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_playbook

PLAY = """
- name: Apply memcached with one bad variable
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Apply the role
      ansible.builtin.include_role:
        name: djangostack.deploy.memcached
"""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("memcached_port", "eleven"),
        ("memcached_port", 70000),
        ("memcached_memory_mb", [64]),
        ("memcached_listen_address", "0.0.0.0"),
        ("memcached_listen_address", "cache.example"),
        ("memcached_threads", 0),
        ("memcached_max_item_size", "1 GB"),
    ],
)
def test_memcached_refuses_bad_input(tmp_path: Path, variable: str, value: object) -> None:
    playbook = tmp_path / "bad_input.yml"
    playbook.write_text(PLAY)
    # 192.0.2.10 is a documentation address: a value to validate, never contacted.
    extra_vars = {"memcached_listen_address": "192.0.2.10", variable: value}
    run = run_playbook(playbook, "-i", "localhost,", "-e", json.dumps(extra_vars))
    assert run.returncode != 0
    # The failure itself names the variable: argument_specs ("argument 'x' is of type ...")
    # or the preflight check ("x must be ...").
    assert re.search(rf"argument '+{variable}'+ |{variable} must ", run.output), run.output
    assert "Install the memcached package" not in run.output
