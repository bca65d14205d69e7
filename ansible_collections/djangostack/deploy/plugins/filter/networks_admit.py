"""Whether a list of IPv4 networks holds an address: the SSH guard of the firewall role."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

DOCUMENTATION = r"""
name: networks_admit
short_description: Whether any of a list of IPv4 networks holds an address
description:
  - True when the address lies in one of the networks (a bare address counts as a /32),
    read with Python's C(ipaddress) module as nftables reads them.
  - The firewall role asks it whether C(firewall_ssh_sources) admits the SSH connection
    the play itself runs over, before it loads rules that would shut the controller out.
  - Entries that are not networks hold nothing (C(network_problems) names them).
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The admitting networks, as C(firewall_ssh_sources) lists them.
    elements: str
    type: list
    required: true
  address:
    description: The IPv4 address to look for.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse to shut out the controller's SSH
  ansible.builtin.assert:
    that: firewall_ssh_sources | djangostack.deploy.networks_admit(_ssh_client)
    fail_msg: "firewall_ssh_sources must admit {{ _ssh_client }}, this play's SSH client"
"""

RETURN = r"""
_value:
  description: True when one of the networks holds the address.
  type: bool
"""


def networks_admit(networks: Iterable[object], address: str) -> bool:
    """True when one of networks holds address; False for an address that is none."""
    try:
        wanted = ipaddress.IPv4Address(str(address))
    except ValueError:
        return False
    for entry in networks:
        try:
            if wanted in ipaddress.IPv4Network(str(entry), strict=False):
                return True
        except ValueError:
            continue
    return False


class FilterModule:
    def filters(self) -> dict[str, Callable[..., bool]]:
        return {"networks_admit": networks_admit}
