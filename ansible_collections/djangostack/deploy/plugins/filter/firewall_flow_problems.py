"""What is wrong with a list of firewall flows, in words a preflight can print."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

DOCUMENTATION = r"""
name: firewall_flow_problems
short_description: The problems of the firewall role's flows, one sentence each
description:
  - Reads each flow of C(firewall_flows) (C(to), C(port), C(proto), C(from), C(why)) and
    says what is wrong with it. An empty list back means every flow is valid.
  - A group that is neither known (the inventory's groups and the contract's tiers) nor
    C(world) is named, so that a typo (C(webb)) is refused before anything changes instead
    of admitting nobody.
  - C(world) is refused as a flow's C(to), since a flow admits sources to a tier's hosts.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The flows.
    type: list
    elements: dict
    required: true
  known_groups:
    description: The group names a flow may use (the inventory's groups and the contract's tiers).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a flow naming an unknown tier
  ansible.builtin.assert:
    that: _problems == []
    fail_msg: >-
      firewall_flows must name known groups, ports and protocols: {{ _problems | join('; ') }}
  vars:
    _problems: >-
      {{ firewall_flows | djangostack.deploy.firewall_flow_problems(groups.keys() | list
         + ['varnish', 'lb', 'web', 'cache']) }}
"""

RETURN = r"""
_value:
  description:
    - One sentence per problem, each naming the flow by its position (from 1); empty when
      all are valid.
  type: list
  elements: str
"""

WORLD = "world"
KEYS = {"to", "port", "proto", "from", "why"}
PROTOCOLS = ("tcp", "udp")


def _port_problem(port: Any) -> str | None:
    if isinstance(port, bool):
        return f"port {port!r} is not a number"
    try:
        number = int(str(port))
    except ValueError:
        return f"port {port!r} is not a number"
    return None if 0 < number < 65536 else f"port {number} is not within 1-65535"


def flow_problems(flow: Any, known: set[str]) -> list[str]:
    """What is wrong with one flow (without its position)."""
    if not isinstance(flow, dict):
        return [f"{flow!r} is not a mapping of to, port, proto, from"]
    problems = [f"{key!r} is not a flow's key" for key in sorted(set(flow) - KEYS, key=str)]
    problems += [f"{key!r} is missing" for key in ("to", "port", "from") if key not in flow]
    if "to" in flow:
        to = flow["to"]
        if to == WORLD:
            problems.append("'to' is world, which is no host")
        elif not isinstance(to, str) or to not in known:
            problems.append(f"'to' names {to!r}, which is neither an inventory group nor a tier")
    if "port" in flow and (problem := _port_problem(flow["port"])):
        problems.append(problem)
    if flow.get("proto", "tcp") not in PROTOCOLS:
        problems.append(f"proto {flow['proto']!r} is not tcp or udp")
    if "from" in flow:
        sources = flow["from"]
        if isinstance(sources, str) or not isinstance(sources, Iterable) or not sources:
            problems.append(f"'from' {sources!r} is not a list of groups")
        else:
            problems += [
                f"'from' names {source!r}, which is neither an inventory group, a tier nor world"
                for source in sources
                if source != WORLD and (not isinstance(source, str) or source not in known)
            ]
    return problems


def firewall_flow_problems(flows: Any, known_groups: Iterable[str]) -> list[str]:
    """One sentence per problem of flows; [] when every flow is valid."""
    if isinstance(flows, str) or not isinstance(flows, list):
        return [f"{flows!r} is not a list of flows"]
    known = set(known_groups)
    return [
        f"flow {position} ({_describe(flow)}): {problem}"
        for position, flow in enumerate(flows, start=1)
        for problem in flow_problems(flow, known)
    ]


def _describe(flow: Any) -> str:
    if not isinstance(flow, dict):
        return "not a mapping"
    return f"to {flow.get('to')} {flow.get('port')}/{flow.get('proto', 'tcp')}"


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[str]]]:
        return {"firewall_flow_problems": firewall_flow_problems}
