"""A flow naming an unknown tier, a bad port or protocol is named, and a valid one is not."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.firewall_flow_problems import (
    FilterModule,
    firewall_flow_problems,
)

KNOWN = ["all", "ungrouped", "varnish", "lb", "web", "cache", "postgres", "monitoring"]
GOOD = {"to": "cache", "port": 11211, "from": ["web"], "why": "Django's cache"}


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"firewall_flow_problems": firewall_flow_problems}


@pytest.mark.parametrize(
    "flows",
    [
        [],
        [GOOD],
        [{"to": "varnish", "port": "80", "proto": "tcp", "from": ["world"]}],
        [{"to": "monitoring", "port": 9694, "proto": "udp", "from": ["web", "world"]}],
    ],
)
def test_valid_flows_have_no_problem(flows: list[dict[str, Any]]) -> None:
    assert firewall_flow_problems(flows, KNOWN) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"to": "webservers"}, "'to' names 'webservers', which is neither an inventory group"),
        ({"to": "world"}, "'to' is world"),
        ({"from": ["web", "memcache"]}, "'from' names 'memcache', which is neither"),
        ({"from": "web"}, "'from' 'web' is not a list of groups"),
        ({"from": []}, "'from' [] is not a list of groups"),
        ({"port": 70000}, "port 70000 is not within 1-65535"),
        ({"port": 0}, "port 0 is not within 1-65535"),
        ({"port": "eleven"}, "port 'eleven' is not a number"),
        ({"port": True}, "port True is not a number"),
        ({"proto": "icmp"}, "proto 'icmp' is not tcp or udp"),
        ({"form": ["web"]}, "'form' is not a flow's key"),
    ],
)
def test_each_bad_flow_is_named_with_its_problem(change: dict[str, Any], says: str) -> None:
    (problem,) = firewall_flow_problems([GOOD, {**GOOD, **change}], KNOWN)
    assert problem.startswith("flow 2 (")
    assert says in problem


def test_a_missing_key_is_named() -> None:
    assert firewall_flow_problems([{"to": "cache", "from": ["web"]}], KNOWN) == [
        "flow 1 (to cache None/tcp): 'port' is missing"
    ]


def test_not_a_list_is_a_problem() -> None:
    assert firewall_flow_problems("web", KNOWN) == ["'web' is not a list of flows"]
    assert firewall_flow_problems(["web"], KNOWN) == [
        "flow 1 (not a mapping): 'web' is not a mapping of to, port, proto, from"
    ]
