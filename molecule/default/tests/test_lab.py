"""The lab itself: what lab/lab.yml built, and what `make up` leaves on the controller."""

from __future__ import annotations

import subprocess

import pytest
from conftest import HOSTS, PREFIX, REPO, lab_host, run_playbook

from harness.lab import SECRETS


def test_lab_playbook_changes_nothing_on_a_built_lab() -> None:
    again = run_playbook("lab/lab.yml")
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    # The lab's own hosts: this machine, and the ACME server it runs (acme1).
    assert set(again.recap) == {"localhost", "acme1"}


@pytest.mark.parametrize("host", HOSTS)
def test_every_host_runs_systemd(host: str) -> None:
    state = lab_host(host).run("systemctl is-system-running")
    assert state.stdout.strip() == "running", state.stdout + state.stderr


def test_ports_published_on_loopback_only() -> None:
    published = {}
    for host in HOSTS:
        ports = subprocess.run(
            ["docker", "port", PREFIX + host], capture_output=True, text=True, check=True
        ).stdout.split()
        published[host] = sorted(p for p in ports if ":" in p)
    assert published == {
        "varnish1": ["127.0.0.1:8080", "127.0.0.1:8443"],  # port 80's redirect, hitch
        "lb1": ["127.0.0.1:8081"],
        "web1": ["127.0.0.1:8082"],
        **{
            host: []
            for host in ["web2", "witness1", "cache1", "cache2", "db1", "db2", "media1", "backup1"]
        },
    }


def test_lab_secrets_stay_on_the_controller() -> None:
    # Folders 0700 (pgBackRest's TLS files have one of their own), files 0600.
    assert (SECRETS.stat().st_mode & 0o777) == 0o700
    for secret in SECRETS.rglob("*"):
        mode = 0o700 if secret.is_dir() else 0o600
        assert (secret.stat().st_mode & 0o777) == mode, secret
    tracked = subprocess.run(
        ["git", "ls-files", ".secrets"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_smoke_playbook_passes() -> None:
    assert run_playbook("playbooks/smoke.yml").returncode == 0


def test_smoke_playbook_names_a_cache_node_that_is_down() -> None:
    # The smoke check waits for daemons that are warming up, not for a dead node: with
    # memcached stopped on cache2 it fails at once, naming the node.
    cache2 = lab_host("cache2")
    cache2.run_expect([0], "systemctl stop memcached")
    try:
        run = run_playbook("playbooks/smoke.yml", "--limit", "web,cache")
    finally:
        cache2.run_expect([0], "systemctl start memcached")
    assert run.returncode != 0
    assert "cache node cache2 (172.30.20.42)" in run.output
    assert {host for host, counts in run.recap.items() if counts["failed"]} == {"web1", "web2"}
    assert run_playbook("playbooks/smoke.yml", "--limit", "web,cache").returncode == 0
