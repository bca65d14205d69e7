"""The harness that proves the djangostack.deploy collection: the lab, the drills, the load
tests and the benchmarks. It uses the collection (by running its playbooks and roles); the
collection never imports it.

    harness.ansible_cli   running Ansible from the checkout
    harness.lab           the lab: its containers, psql on its hosts, its secrets
    harness.http_load     HTTP measurement: the one load engine and the one percentile
    harness.wrk           Debian's wrk, run and read: the saturating load (C, not the limit)
    harness.drills        failure drills on the lab (python -m harness.drills.<name>)
    harness.loadtest      make loadtest, compare and capacity
    harness.benchmarks    page latency and the app's profile

Installed editable by `make setup`, so REPO is the checkout the harness runs from.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "ansible_collections" / "djangostack" / "deploy"


class CommandFailed(subprocess.CalledProcessError):
    """A command of the harness (psql, an Ansible tool) that exited non-zero: what it
    printed is in its message, so that pytest and the drills show why."""

    def __str__(self) -> str:
        return "\n".join(part for part in (super().__str__(), self.stdout, self.stderr) if part)
