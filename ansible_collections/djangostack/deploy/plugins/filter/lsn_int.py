"""WAL positions as numbers, so playbooks can compare them."""

from __future__ import annotations

import re
from collections.abc import Callable

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")

DOCUMENTATION = r"""
name: lsn_int
short_description: A PostgreSQL WAL position as a number, to compare positions
description:
  - Turns a WAL position such as C(16/B374D848) into an integer (high 32 bits, then low 32
    bits), so that playbooks can pick the most advanced standby. An empty or null position is 0.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The WAL position.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Compare two positions
  ansible.builtin.debug:
    msg: "{{ '0/3000000' | djangostack.deploy.lsn_int > '0/2FFFFFF' | djangostack.deploy.lsn_int }}"
"""

RETURN = r"""
_value:
  description: The position as an integer.
  type: int
"""


def lsn_int(lsn: str | None) -> int:
    """A WAL position ('16/B374D848') as a number; None or empty is 0."""
    if not lsn:
        return 0
    match = _LSN.fullmatch(str(lsn))
    if not match:
        raise ValueError(f"not a WAL position: {lsn!r}")
    return (int(match[1], 16) << 32) + int(match[2], 16)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., int]]:
        return {"lsn_int": lsn_int}
