"""What a host's firewall admits: the contract's flows to its groups, resolved to addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: firewall_accepts
short_description: The firewall role's accept rules for one host, one per port and protocol
description:
  - Keeps the flows whose C(to) is one of the host's groups and resolves each C(from) group
    to the IPv4 addresses of its hosts; C(world) admits any address. Groups that the
    inventory lacks admit nobody.
  - Flows and extra admissions to the same port and protocol become one rule, with their
    sources merged and collapsed (C(ipaddress.collapse_addresses)), so overlapping networks
    never make an nftables set fail, and the output is sorted, so the rules file only
    changes when what is admitted changes.
  - Expects valid flows (C(firewall_flow_problems) says why not) and fails, naming the
    host, when a source host's addresses are unknown or invalid.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The flows (C(firewall_flows)).
    type: list
    elements: dict
    required: true
  host_groups:
    description: The groups of the host the rules are for (C(group_names)).
    type: list
    elements: str
    required: true
  groups:
    description: The inventory's groups and their hosts (C(groups)).
    type: dict
    required: true
  addresses:
    description: Each source host's IPv4 addresses (a list), or null when unknown.
    type: dict
    required: true
  extra:
    description:
      - Admissions from networks rather than groups, each with C(port), C(proto) (default
        C(tcp)), C(from) (IPv4 networks or addresses) and C(why).
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Write the rules
  ansible.builtin.template:
    src: djangostack.nft.j2
    dest: /etc/nftables.d/djangostack.nft
  vars:
    _accepts: >-
      {{ firewall_flows | djangostack.deploy.firewall_accepts(group_names, groups,
         {'web1': ['10.0.1.11']}, extra=[{'port': 22, 'from': ['203.0.113.0/24'], 'why': 'SSH'}]) }}
"""

RETURN = r"""
_value:
  description:
    - One rule per port and protocol, sorted by protocol then port, each with C(proto),
      C(port), C(world) (true when any address is admitted), C(sources) (collapsed IPv4
      networks, a /32 written as its address; empty with C(world)) and C(why) (the
      reasons, joined, at most 120 characters). A flow whose groups hold no host admits
      nobody and makes no rule.
  type: list
  elements: dict
"""

WORLD = "world"
# nftables keeps a comment of up to 128 bytes.
WHY_MAX = 120


def _networks(entries: Iterable[Any], whose: str) -> list[ipaddress.IPv4Network]:
    try:
        return [ipaddress.IPv4Network(str(entry), strict=False) for entry in entries]
    except ValueError as error:
        raise AnsibleFilterError(f"{whose}: {error}") from error


def _written(network: ipaddress.IPv4Network) -> str:
    """An address alone for a /32, as nftables lists it back."""
    return str(network.network_address) if network.prefixlen == 32 else str(network)


def firewall_accepts(
    flows: list[Mapping[str, Any]],
    host_groups: Iterable[str],
    groups: Mapping[str, Iterable[str]],
    addresses: Mapping[str, Any],
    extra: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The rules for a host in host_groups: [{proto, port, world, sources, why}]."""
    mine = set(host_groups)
    rules: dict[tuple[str, int], dict[str, Any]] = {}

    def admit(flow: Mapping[str, Any], networks: list[ipaddress.IPv4Network], world: bool) -> None:
        if not networks and not world:
            return
        rule = rules.setdefault(
            (str(flow.get("proto", "tcp")), int(flow["port"])),
            {"world": False, "networks": [], "why": []},
        )
        rule["world"] = rule["world"] or world
        rule["networks"] += networks
        if flow.get("why") and flow["why"] not in rule["why"]:
            rule["why"].append(str(flow["why"]))

    for flow in flows:
        if flow["to"] not in mine:
            continue
        hosts = sorted({host for group in flow["from"] for host in groups.get(group, [])})
        unknown = [host for host in hosts if addresses.get(host) is None]
        if unknown:
            raise AnsibleFilterError(
                f"firewall_host_addresses of {', '.join(unknown)} are unknown: gather their "
                "facts or set firewall_host_addresses in the inventory"
            )
        networks = [
            network
            for host in hosts
            for network in _networks(addresses[host], f"firewall_host_addresses of {host}")
        ]
        admit(flow, networks, WORLD in flow["from"])
    for entry in extra:
        admit(entry, _networks(entry["from"], "firewall_extra_sources"), False)

    return [
        {
            "proto": proto,
            "port": port,
            "world": rule["world"],
            "sources": []
            if rule["world"]
            else [_written(net) for net in ipaddress.collapse_addresses(rule["networks"])],
            "why": "; ".join(rule["why"])[:WHY_MAX].replace('"', "'"),
        }
        for (proto, port), rule in sorted(rules.items())
    ]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[dict[str, Any]]]]:
        return {"firewall_accepts": firewall_accepts}
