"""Each host admits exactly the contract's flows to its groups, from its sources' addresses."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.djangostack.deploy.plugins.filter.firewall_accepts import (
    FilterModule,
    firewall_accepts,
)

DEFAULTS = Path(__file__).parents[4] / "roles" / "firewall" / "defaults" / "main.yml"


def default_flows() -> list[dict[str, Any]]:
    """The role's default flows, each port rendered as Ansible would without the listening
    roles' variables (their defaults)."""
    flows = yaml.safe_load(DEFAULTS.read_text())["firewall_flows"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return [{**flow, "port": int(env.from_string(str(flow["port"])).render())} for flow in flows]


# The lab's inventory (inventory/lab/hosts.yml) and addresses (lab_host_networks), stated here.
GROUPS = {
    "varnish": ["varnish1"],
    "lb": ["lb1"],
    "web": ["web1", "web2"],
    "pgpool": ["web1", "web2"],
    "pgpool_witness": ["witness1"],
    "cache": ["cache1", "cache2"],
    "db_primary": ["db1"],
    "db_standby": ["db2"],
    "postgres": ["db1", "db2"],
    "backup": ["backup1"],
}
ADDRESSES = {
    "varnish1": ["172.30.10.11"],
    "lb1": ["172.30.10.21", "172.30.20.21"],
    "web1": ["172.30.20.31", "172.30.30.31"],
    "web2": ["172.30.20.32", "172.30.30.32"],
    "witness1": ["172.30.20.35", "172.30.30.35"],
    "cache1": ["172.30.20.41"],
    "cache2": ["172.30.20.42"],
    "db1": ["172.30.30.51"],
    "db2": ["172.30.30.52"],
    "backup1": ["172.30.30.61"],
}
WATCHDOG = ["172.30.20.31", "172.30.20.32", "172.30.20.35"]
WATCHDOG += ["172.30.30.31", "172.30.30.32", "172.30.30.35"]
# docs/architecture.md, "Who may reach whom": per host, (proto, port): sources ("world": any).
CONTRACT: dict[str, dict[tuple[str, int], Any]] = {
    "varnish1": {("tcp", 80): "world", ("tcp", 443): "world"},
    "lb1": {("tcp", 80): ["172.30.10.11"]},
    "web1": {
        ("tcp", 80): ["172.30.10.21", "172.30.20.21"],
        ("tcp", 9000): WATCHDOG,
        ("udp", 9694): WATCHDOG,
    },
    "witness1": {("tcp", 9000): WATCHDOG, ("udp", 9694): WATCHDOG},
    "cache1": {("tcp", 11211): ["172.30.20.31", "172.30.20.32", "172.30.30.31", "172.30.30.32"]},
    "db1": {
        ("tcp", 5432): [*WATCHDOG, "172.30.30.51", "172.30.30.52"],
        ("tcp", 8432): ["172.30.30.61"],
    },
    "backup1": {("tcp", 8432): ["172.30.30.51", "172.30.30.52"]},
}


def host_groups(host: str) -> list[str]:
    return [group for group, hosts in GROUPS.items() if host in hosts]


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"firewall_accepts": firewall_accepts}


@pytest.mark.parametrize("host", sorted(CONTRACT))
def test_the_default_flows_are_the_contract_nothing_more(host: str) -> None:
    accepts = firewall_accepts(default_flows(), host_groups(host), GROUPS, ADDRESSES)
    stated = {
        (rule["proto"], rule["port"]): "world" if rule["world"] else rule["sources"]
        for rule in accepts
    }
    # Sorted as ipaddress collapses them: by address.
    expected = {
        key: value if value == "world" else sorted(value, key=ipaddress.IPv4Address)
        for key, value in CONTRACT[host].items()
    }
    assert stated == expected


def test_sources_merge_and_collapse_per_port() -> None:
    flows = [
        {"to": "db", "port": 5432, "from": ["app"], "why": "the app"},
        {"to": "db", "port": 5432, "from": ["db"], "why": "replication"},
        {"to": "db", "port": 53, "proto": "udp", "from": ["app"]},
        {"to": "elsewhere", "port": 80, "from": ["world"]},
    ]
    groups = {"app": ["a1", "a2"], "db": ["d1"], "elsewhere": ["e1"]}
    addresses = {"a1": ["10.0.0.0"], "a2": ["10.0.0.1"], "d1": ["10.0.1.5"]}
    extra = [{"port": 22, "from": ["203.0.113.0/24", "203.0.113.7"], "why": "SSH"}]
    assert firewall_accepts(flows, ["db"], groups, addresses, extra=extra) == [
        {"proto": "tcp", "port": 22, "world": False, "sources": ["203.0.113.0/24"], "why": "SSH"},
        {
            "proto": "tcp",
            "port": 5432,
            "world": False,
            "sources": ["10.0.0.0/31", "10.0.1.5"],
            "why": "the app; replication",
        },
        {"proto": "udp", "port": 53, "world": False, "sources": ["10.0.0.0/31"], "why": ""},
    ]


def test_world_wins_over_sources_and_empty_groups_admit_nobody() -> None:
    flows = [
        {"to": "edge", "port": 80, "from": ["lb"]},
        {"to": "edge", "port": 80, "from": ["world"]},
        {"to": "edge", "port": 8080, "from": ["pgpool_witness"]},
    ]
    accepts = firewall_accepts(flows, ["edge"], {"lb": ["l1"]}, {"l1": ["10.0.0.1"]})
    assert accepts == [{"proto": "tcp", "port": 80, "world": True, "sources": [], "why": ""}]


def test_a_source_without_addresses_is_named() -> None:
    flows = [{"to": "web", "port": 80, "from": ["lb"]}]
    with pytest.raises(AnsibleFilterError, match="firewall_host_addresses of lb2 are unknown"):
        firewall_accepts(flows, ["web"], {"lb": ["lb1", "lb2"]}, {"lb1": ["10.0.0.1"], "lb2": None})


def test_a_bad_address_is_named() -> None:
    flows = [{"to": "web", "port": 80, "from": ["lb"]}]
    with pytest.raises(AnsibleFilterError, match="firewall_host_addresses of lb1"):
        firewall_accepts(flows, ["web"], {"lb": ["lb1"]}, {"lb1": ["lb1.example"]})


def test_a_comment_stays_within_nftables_limit_and_quotes() -> None:
    flows = [{"to": "web", "port": 80, "from": ["world"], "why": 'the "app" ' * 30}]
    (rule,) = firewall_accepts(flows, ["web"], {}, {})
    assert len(rule["why"]) <= 120
    assert '"' not in rule["why"]
