"""Filters shared by the database roles, so the primary and its standbys agree on names."""

from __future__ import annotations

import re
from collections.abc import Callable

DOCUMENTATION = r"""
name: replication_slot_name
short_description: The physical replication slot name for a standby host
description:
  - Turns an inventory hostname into a valid PostgreSQL replication slot name (lower case
    letters, digits and underscores, at most 63 characters).
  - The primary creates a slot per standby under this name and each standby streams
    through it, so both sides must derive it the same way.
options:
  _input:
    description: The standby's inventory hostname.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the slot of db2-a.example
  ansible.builtin.debug:
    msg: "{{ 'db2-a.example' | djangostack.deploy.replication_slot_name }}"  # db2_a_example
"""

RETURN = r"""
_value:
  description: The slot name.
  type: str
"""

_INVALID = re.compile(r"[^a-z0-9_]")
_MAX_LENGTH = 63  # NAMEDATALEN - 1


def replication_slot_name(hostname: str) -> str:
    """Return the replication slot name PostgreSQL accepts for this hostname."""
    name = _INVALID.sub("_", str(hostname).lower())[:_MAX_LENGTH]
    if not name.strip("_"):
        raise ValueError(f"no usable replication slot name in {hostname!r}")
    return name


class FilterModule:
    def filters(self) -> dict[str, Callable[..., str]]:
        return {"replication_slot_name": replication_slot_name}
