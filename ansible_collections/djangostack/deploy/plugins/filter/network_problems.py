"""What is wrong with a list of IPv4 networks, in words a preflight can print."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

DOCUMENTATION = r"""
name: network_problems
short_description: The problems of a list of IPv4 networks or addresses, one sentence each
description:
  - Reads each entry with Python's C(ipaddress) module, the way AWS and nftables will read
    it, and says what is wrong with it. An empty list back means every entry is valid.
  - A bare address counts as a /32. A network with host bits set (C(203.0.113.7/24)) is
    refused rather than silently widened to its network, because the operator meant
    something else.
  - Preflights print the problems after the variable's name, so that bad input fails
    before anything changes and the message names the variable.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The networks (C(203.0.113.0/24)) or addresses (C(203.0.113.7)).
    type: list
    elements: str
    required: true
  min_prefix:
    description:
      - The shortest prefix accepted. C(16) refuses C(/0) through C(/15), so that no typo
        opens a port to a large part of the internet.
    type: int
    default: 0
  private:
    description:
      - Accept only addresses that are not globally routable (RFC 1918, loopback,
        shared and link-local space), for what must never face the internet.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse an SSH block that is not a /16 or longer
  ansible.builtin.assert:
    that: _problems == []
    fail_msg: >-
      ec2_stack_ssh_cidrs must hold valid IPv4 networks of /16 or longer:
      {{ _problems | join('; ') }}
  vars:
    _problems: "{{ ec2_stack_ssh_cidrs | djangostack.deploy.network_problems(min_prefix=16) }}"
"""

RETURN = r"""
_value:
  description: One sentence per problem, each quoting the entry; empty when all are valid.
  type: list
  elements: str
"""


def network_problems(
    networks: Iterable[object], min_prefix: int = 0, private: bool = False
) -> list[str]:
    """One sentence per invalid entry of networks; [] when every entry is valid."""
    if isinstance(networks, str):
        return [f"{networks!r} is a string, not a list of networks"]
    problems = []
    for entry in networks:
        try:
            # Not strict first, so that 203.0.113.7/0 is named for its prefix, which is
            # what makes it dangerous, rather than for its host bits.
            network = ipaddress.IPv4Network(str(entry), strict=False)
        except ValueError as error:
            problems.append(f"{entry!r} is not an IPv4 network or address ({error})")
            continue
        if network.prefixlen < min_prefix:
            problems.append(f"{entry!r} is a /{network.prefixlen}, shorter than /{min_prefix}")
        elif str(entry).partition("/")[0] != str(network.network_address):
            problems.append(
                f"{entry!r} has host bits set: the network is {network}, the address alone "
                f"is {str(entry).partition('/')[0]}/32"
            )
        elif private and network.is_global:
            problems.append(f"{entry!r} is a public address")
    return problems


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[str]]]:
        return {"network_problems": network_problems}
