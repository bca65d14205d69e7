"""The database tier's live topology, from what each node says it is, not from the inventory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DOCUMENTATION = r"""
name: db_topology
short_description: Decide the database tier's live topology from the nodes' own answers
description:
  - Inventory groups state the intent at first build, and after a failover the databases
    are the truth. This filter takes what every node answered
    (M(djangostack.deploy.pg_replication_info), or nothing when it is down) and says which
    node is the primary now, which nodes are its standbys, and which must be left alone.
  - A fresh tier (no node answers at all, none fenced) follows the inventory's intent.
  - Two nodes answering as primary is a former primary that came back after a failover.
    The one on the newest timeline is the primary, the others are C(stale) (to rejoin).
  - No primary while standbys answer means the primary is lost. C(problem) says so, and
    playbooks stop there (playbooks/failover.yml is the way on).
  - A standby is C(broken) when PostgreSQL is installed on it but it does not stream from
    the primary (down, or running without streaming). site.yml repairs it and rejoin.yml
    picks it, so that no playbook calls it healthy.
options:
  _input:
    description:
      - Per host, C(role) (primary, standby, fenced or down) and C(timeline), as a dict
        keyed by inventory hostname. C(fenced) is a node whose PostgreSQL unit is masked
        (failover.yml or switchover.yml replaced it), never a standby to build, always
        one to rejoin.
      - C(installed) (true when PostgreSQL is installed on the node) tells a broken standby
        from a new one; a primary's C(standbys) (its WAL senders, as
        M(djangostack.deploy.pg_replication_info) returns them) tells which standbys stream.
    type: dict
    required: true
  intended_primaries:
    description: The inventory's C(db_primary) hosts.
    type: list
    elements: str
    required: true
  intended_standbys:
    description: The inventory's C(db_standby) hosts.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Decide the live topology
  ansible.builtin.set_fact:
    db_topology: >-
      {{ answers | djangostack.deploy.db_topology(groups['db_primary'], groups['db_standby']) }}
"""

RETURN = r"""
_value:
  description: The topology.
  type: dict
  contains:
    primary:
      description: The primary now (empty when there is none).
      type: str
    standbys:
      description: >-
        Nodes to run as its standbys: those that answer as standbys, and nodes the
        inventory means as standbys that do not answer yet (new, or not yet installed).
      type: list
      elements: str
    stale:
      description: Former primaries that answer as primary on an older timeline.
      type: list
      elements: str
    down:
      description: Nodes that did not answer and are not meant as standbys (a lost or fenced
        primary).
      type: list
      elements: str
    broken:
      description: >-
        Standbys (in C(standbys) too) on which PostgreSQL is installed but which do not
        stream from the primary, each with the reason, as a dict keyed by host.
      type: dict
    fresh:
      description: True when no node answered, so the inventory's intent was followed.
      type: bool
    lost_primary:
      description: True when standbys answer and no primary does (what failover.yml is for).
      type: bool
    problem:
      description: Why no playbook should change the tier now, or empty.
      type: str
"""


def db_topology(
    nodes: dict[str, dict[str, Any]],
    intended_primaries: list[str],
    intended_standbys: list[str],
) -> dict[str, Any]:
    def role(host: str) -> str:
        return str((nodes.get(host) or {}).get("role") or "down")

    hosts = sorted(nodes)
    primaries = sorted(
        (h for h in hosts if role(h) == "primary"),
        key=lambda h: (-int(nodes[h].get("timeline") or 0), h),
    )
    standbys = [h for h in hosts if role(h) == "standby"]
    down = [h for h in hosts if role(h) not in ("primary", "standby")]

    fenced = [h for h in hosts if role(h) == "fenced"]
    if not primaries and not standbys and not fenced:
        return {
            "primary": intended_primaries[0] if intended_primaries else "",
            "standbys": [h for h in intended_standbys if h in nodes],
            "stale": [],
            "down": [],
            "broken": {},
            "fresh": True,
            "lost_primary": False,
            "problem": "" if intended_primaries else "no host in db_primary and no node answers",
        }

    problem = ""
    if not primaries:
        problem = (
            f"no primary answers (standbys: {', '.join(standbys) or 'none'};"
            f" down: {', '.join(down) or 'none'}): run playbooks/failover.yml"
        )
    elif len(primaries) > 1 and nodes[primaries[0]].get("timeline") == nodes[primaries[1]].get(
        "timeline"
    ):
        problem = (
            f"{' and '.join(primaries)} all answer as primary on the same timeline: stop all but"
            " one, then rejoin the others with playbooks/rejoin.yml"
        )
    # A node meant as a standby that does not answer is built (or refused) by pg_standby,
    # unless it is fenced; any other silent node is a lost or fenced primary, for rejoin.yml.
    new_standbys = [h for h in down if h in intended_standbys and role(h) != "fenced"]
    primary = primaries[0] if primaries and not problem else ""
    broken = {
        h: "PostgreSQL is installed but does not answer"
        for h in new_standbys
        if (nodes.get(h) or {}).get("installed")
    }
    senders = (nodes.get(primary) or {}).get("standbys") if primary else None
    if senders is not None:
        streaming = {s.get("application_name") for s in senders if s.get("state") == "streaming"}
        broken |= {
            h: f"answers as a standby but does not stream from {primary}"
            for h in standbys
            if h not in streaming
        }
    return {
        "primary": primary,
        "standbys": standbys + new_standbys,
        "stale": primaries[1:],
        "down": [h for h in down if h not in new_standbys],
        "broken": dict(sorted(broken.items())),
        "fresh": False,
        "lost_primary": not primaries,
        "problem": problem,
    }


class FilterModule:
    def filters(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return {"db_topology": db_topology}
