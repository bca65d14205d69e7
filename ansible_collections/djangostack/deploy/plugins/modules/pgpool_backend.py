#!/usr/bin/python
"""Read pgpool-II's view of its backends; attach, detach, or mark one as the primary."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pgpool_backend
short_description: Read pgpool-II's backends; attach, detach or mark one as the primary
description:
  - Talks to pgpool-II's PCP port with the C(pcp_*) programs on the managed host (pgpool-II
    4.3, Debian 12's pgpool2). Reads pgpool's view of every backend (C(pcp_node_count), then
    C(pcp_node_info --verbose) per node) and, with O(state), changes one
    backend only when pgpool does not already have it so.
  - After a change it re-reads the node until pgpool shows the state asked for, for at most
    O(wait_seconds), and fails otherwise.
  - O(state=primary) exists to repoint pgpool after PostgreSQL was promoted by other means
    (M(djangostack.deploy.pg_promote)). By default it runs C(pcp_promote_node) without
    C(--switchover), which changes nothing in PostgreSQL. pgpool records the node as its
    primary, and records B(every other node as down) and as standby, in its own status only
    (the servers keep running). It runs C(follow_primary_command) if one is set. Attach the
    standbys again (O(state=attached)) once they stream from the new primary; on an attach
    pgpool asks every node for its role again.
  - With O(switchover=true), C(pcp_promote_node --switchover) records the current primary as
    down and makes pgpool run its C(failover_command) with this node as the new main node.
    The failover script is what promotes PostgreSQL, and C(follow_primary_command) should
    re-point the other standbys. Without a C(failover_command) nothing promotes the node, and
    pgpool is left without a primary once C(search_primary_node_timeout) has passed.
  - Without O(switchover), the module refuses to mark a node as the primary while pgpool
    reports its PostgreSQL as something else (C(pg_role), from its C(pg_is_in_recovery)),
    since pgpool would then send writes to a read-only server and stop using the real primary.
version_added: 0.1.0
author: djangostack team (@djangostack)
extends_documentation_fragment:
  - djangostack.deploy.pcp
attributes:
  check_mode:
    support: full
    description: Reads pgpool's backends and reports what it would do, without doing it.
options:
  node_id:
    description:
      - The backend's number in pgpool.conf (the C(0) of C(backend_hostname0)).
      - Mutually exclusive with O(node_host). One of them is required with O(state).
    type: int
  node_host:
    description:
      - The backend's C(backend_hostname) exactly as pgpool.conf has it.
      - Fails when several backends share it (same host, different ports); use O(node_id).
      - Mutually exclusive with O(node_id). One of them is required with O(state).
    type: str
  state:
    description:
      - Unset, the module only reads pgpool's backends.
      - V(attached) runs C(pcp_attach_node) when pgpool has the node down (or unused or
        quarantined). pgpool then shows it as V(waiting) until a client session uses it.
      - V(detached) runs C(pcp_detach_node) when pgpool has the node up or waiting.
        Detaching the primary makes pgpool look for a new one (see notes).
      - V(primary) runs C(pcp_promote_node) when pgpool has the node up as a standby; no
        change when pgpool already has it as its primary. Refused when pgpool has the node
        down (attach it first).
    type: str
    choices: [attached, detached, primary]
  gracefully:
    description:
      - With V(detached) or V(primary), pass C(-g) so pgpool waits until its clients have
        disconnected (bounded by its C(client_idle_limit_in_recovery) and
        C(recovery_timeout)) instead of cutting them off.
    type: bool
    default: false
  switchover:
    description:
      - With V(primary), pass C(--switchover) so pgpool runs its C(failover_command) to
        promote the node, instead of only recording it as the primary.
    type: bool
    default: false
  wait_seconds:
    description:
      - After a change, how long to wait for pgpool to show the node in the state asked for.
    type: int
    default: 30
  watchdog:
    description:
      - Also read the watchdog cluster this pgpool belongs to (C(pcp_watchdog_info
        --verbose)) and return it as RV(watchdog). pgpool must run with C(use_watchdog = on).
    type: bool
    default: false
notes:
  - pgpool-II 4.3's pcp programs exit 0 on some errors (an unknown node id, detaching a node
    already down) and only print C(ERROR) on stderr. The module fails a read on such output,
    and judges every change by re-reading the node.
  - When the primary is detached, or found down, pgpool searches for a new primary for up to
    C(search_primary_node_timeout) (5 min by default) and queues other PCP requests
    meanwhile, so an attach made then may time out here and take effect later.
  - C(pcp_node_info) labels are parsed from its C(--verbose) form, which keeps empty values
    in place; the plain form's space-separated fields shift when one is empty.
"""

EXAMPLES = r"""
- name: Read pgpool's backends
  djangostack.deploy.pgpool_backend:
    pcp_user: pcpadmin
    pcp_password: "{{ pgpool_pcp_password }}"
  register: pgpool

- name: Show pgpool's primary
  ansible.builtin.debug:
    msg: >-
      {{ pgpool.backends | selectattr('role', 'eq', 'primary')
         | map(attribute='hostname') | list }}

- name: Take db2 out of pgpool for maintenance, once its sessions have ended
  djangostack.deploy.pgpool_backend:
    pcp_user: pcpadmin
    pcp_password: "{{ pgpool_pcp_password }}"
    node_host: db2
    state: detached
    gracefully: true

- name: Point pgpool at db2, already promoted over SQL
  djangostack.deploy.pgpool_backend:
    pcp_user: pcpadmin
    pcp_password: "{{ pgpool_pcp_password }}"
    node_host: db2
    state: primary

- name: Put db1 back into pgpool once it streams from db2
  djangostack.deploy.pgpool_backend:
    pcp_user: pcpadmin
    pcp_password: "{{ pgpool_pcp_password }}"
    node_host: db1
    state: attached
"""

RETURN = r"""
backends:
  description: pgpool's view of every backend, after the module ran, in node id order.
  returned: always
  type: list
  elements: dict
  contains:
    node_id:
      description: The backend's number in pgpool.conf.
      type: int
      sample: 1
    hostname:
      description: Its C(backend_hostname).
      type: str
      sample: db2
    port:
      description: Its C(backend_port).
      type: int
      sample: 5432
    status:
      description:
        - pgpool's status for it, C(up), C(waiting) (up, no pooled connection yet),
          C(down), C(unused) (not initialised yet) or C(quarantine).
      type: str
      sample: up
    weight:
      description: Its load balance weight, normalised (0 to 1).
      type: float
      sample: 0.5
    role:
      description: What pgpool takes it for, C(primary) or C(standby).
      type: str
      sample: standby
    pg_status:
      description: Whether PostgreSQL answers now (C(up) or C(down)), whatever pgpool's status.
      type: str
      sample: up
    pg_role:
      description:
        - What PostgreSQL says it is now (C(primary) or C(standby), from its
          C(pg_is_in_recovery)), C(unknown) when it does not answer.
      type: str
      sample: standby
    replication_delay:
      description:
        - Its replication delay as pgpool's streaming replication check measured it, in bytes
          with pgpool-II 4.3 (later versions may print seconds; then the text as printed).
      type: raw
      sample: 0
    replication_state:
      description:
        - C(state) from the primary's pg_stat_replication (C(streaming), ...).
        - C(none) on the primary, and with pgpool-II 4.3 also when pgpool could not read it
          (its sr_check_user is neither superuser nor in pg_monitor); null when empty.
      type: str
      sample: streaming
    replication_sync_state:
      description: C(sync_state) from the primary's pg_stat_replication (C(async), ...).
      type: str
      sample: async
    last_status_change:
      description: When pgpool last changed its status (pgpool host's local time).
      type: str
      sample: "2026-11-28 00:09:22"
watchdog:
  description: The watchdog cluster as this pgpool saw it when the module read the backends.
  returned: when O(watchdog=true)
  type: dict
  contains:
    nodes:
      description: How many members the cluster has, this one included.
      type: int
      sample: 3
    alive_remote_nodes:
      description: How many other members this one hears.
      type: int
      sample: 2
    quorum_state:
      description: C(QUORUM EXIST), C(QUORUM ABSENT), C(QUORUM IS ON THE EDGE) or C(UNKNOWN).
      type: str
      sample: QUORUM EXIST
    quorum:
      description:
        - Whether more than half of the members are alive, so that a failover may happen.
      type: bool
      sample: true
    leader:
      description: The leader's watchdog name, which runs the failover command.
      type: str
      sample: "172.30.20.35:5432 Linux witness1"
    leader_host:
      description: The leader's address.
      type: str
      sample: 172.30.20.35
    members:
      description: Every member, this one included, with C(name), C(host), C(status) (C(LEADER),
        C(STANDBY), C(LOST), C(SHUTDOWN), ...) and C(membership) (C(MEMBER), C(NOT-MEMBER)).
      type: list
      elements: dict
node:
  description:
    - The backend of O(node_id) or O(node_host), as in RV(backends), after the change (in
      check mode, as it is now).
  returned: when O(node_id) or O(node_host) is given
  type: dict
  sample:
    node_id: 1
    hostname: db2
    port: 5432
    status: up
    weight: 0.5
    role: primary
    pg_status: up
    pg_role: primary
    replication_delay: 0
    replication_state: none
    replication_sync_state: none
    last_status_change: "2026-11-28 00:12:03"
msg:
  description: What was decided, or done.
  returned: always
  type: str
  sample: "marked node 1 (db2:5432) as pgpool's primary"
"""

import time
from typing import Any, NamedTuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.djangostack.deploy.plugins.module_utils.pgpool import (
    ATTACHED_STATUSES,
    Pcp,
    PcpError,
    error_in,
    pcp_argument_spec,
)


class Decision(NamedTuple):
    action: str | None  # "attach", "detach", "promote", "refuse", or None: nothing to do
    reason: str


# The pcp program each action runs.
PROGRAMS = {"attach": "pcp_attach_node", "detach": "pcp_detach_node", "promote": "pcp_promote_node"}
# How msg words each action, to come (check mode) and done; {} is the node.
WOULD = {
    "attach": "would attach {}",
    "detach": "would detach {}",
    "promote": "would make {} primary",
}
DONE = {"attach": "attached {}", "detach": "detached {}", "promote": "made {} primary"}


def decide(
    status: str, role: str, pg_role: str | None, state: str | None, switchover: bool
) -> Decision:
    """What to do to one backend: the whole decision, as a pure function.

    status and role are pgpool's (pcp_node_info's Status Name and Role), pg_role is what
    PostgreSQL itself says (Backend Role), state the state asked for (None: only read).
    """
    attached = status in ATTACHED_STATUSES
    if state is None:
        return Decision(None, f"pgpool has it {status} as {role}")
    if state == "attached":
        if attached:
            return Decision(None, f"already attached ({status})")
        return Decision("attach", f"pgpool has it {status}")
    if state == "detached":
        if not attached:
            return Decision(None, f"already detached ({status})")
        return Decision("detach", f"pgpool has it {status}")
    # state == "primary"
    if not attached:
        return Decision(
            "refuse",
            f"pgpool has it {status}: attach it first (state=attached), then make it the primary",
        )
    if role == "primary":
        return Decision(None, "already pgpool's primary")
    if role != "standby":
        return Decision(
            "refuse",
            f"pgpool has it as {role}, not standby: pcp_promote_node only works in streaming"
            " replication mode",
        )
    if switchover:
        return Decision("promote", "switchover: pgpool's failover_command will promote it")
    if pg_role != "primary":
        return Decision(
            "refuse",
            f"PostgreSQL on it is {pg_role or 'of unknown role'}, not a primary: promote it first"
            " (djangostack.deploy.pg_promote), or let pgpool's failover_command do it"
            " (switchover=true)",
        )
    return Decision("promote", "PostgreSQL on it is already a primary")


def reached(node: dict[str, Any], action: str) -> bool:
    """Whether pgpool shows the node as the action should leave it."""
    attached = node["status"] in ATTACHED_STATUSES
    if action == "attach":
        return attached
    if action == "detach":
        return not attached
    return attached and node["role"] == "primary"


def find_node(
    backends: list[dict[str, Any]], node_id: int | None, node_host: str | None
) -> dict[str, Any]:
    """The backend asked for, by id or by backend_hostname; PcpError when there is not one."""
    known = ", ".join(f"{b['node_id']}={b['hostname']}:{b['port']}" for b in backends) or "none"
    if node_id is not None:
        if 0 <= node_id < len(backends):
            return backends[node_id]
        raise PcpError(f"pgpool has no backend {node_id} (its backends: {known})")
    matches = [backend for backend in backends if backend["hostname"] == node_host]
    if not matches:
        raise PcpError(
            f"pgpool has no backend with backend_hostname {node_host} (its backends: {known})"
        )
    if len(matches) > 1:
        raise PcpError(
            f"several pgpool backends have backend_hostname {node_host} ({known}): use node_id"
        )
    return matches[0]


def label(node: dict[str, Any]) -> str:
    return f"node {node['node_id']} ({node['hostname']}:{node['port']})"


def act(
    pcp: Pcp, node: dict[str, Any], action: str, params: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Run the action's pcp program, then wait until pgpool shows its effect.

    Return the node as last read, and why it failed (None when pgpool shows the effect).
    """
    args = ["-n", str(node["node_id"])]
    if params["gracefully"] and action in ("detach", "promote"):
        args.append("-g")
    if params["switchover"] and action == "promote":
        args.append("--switchover")
    rc, out, err = pcp.run(PROGRAMS[action], *args)
    # Judged by the result rather than by the exit code alone: another caller may have made
    # the same change a moment before (then the program complains and the node is fine).
    complaint = (err.strip() or out.strip()) if rc != 0 or error_in(err) else ""
    deadline = time.monotonic() + params["wait_seconds"]
    while True:
        current = pcp.node(node["node_id"])
        if reached(current, action):
            return current, None
        if complaint or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    program = PROGRAMS[action]
    still = f"pgpool still has {label(current)} {current['status']} as {current['role']}"
    if complaint:
        return current, f"{program} said: {complaint}; {still}"
    if action == "promote" and params["switchover"]:
        why = "with switchover only pgpool's failover_command promotes the node: is one set?"
    else:
        why = (
            "pgpool may still carry it out: it queues PCP requests while it searches for a"
            " primary (up to search_primary_node_timeout, after a primary was detached or lost)"
        )
    return current, (
        f"{program} reported no error, but {still} after {params['wait_seconds']} s; {why}"
        " - see pgpool's log"
    )


def main() -> None:
    argument_spec = pcp_argument_spec()
    argument_spec.update(
        node_id={"type": "int"},
        node_host={"type": "str"},
        state={"type": "str", "choices": ["attached", "detached", "primary"]},
        gracefully={"type": "bool", "default": False},
        switchover={"type": "bool", "default": False},
        wait_seconds={"type": "int", "default": 30},
        watchdog={"type": "bool", "default": False},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("node_id", "node_host")],
        required_if=[
            ("state", state, ("node_id", "node_host"), True)
            for state in ("attached", "detached", "primary")
        ],
        supports_check_mode=True,
    )
    params = module.params
    node_id, node_host = params["node_id"], params["node_host"]
    result: dict[str, Any] = {"changed": False}
    try:
        with Pcp(module) as pcp:
            result["backends"] = pcp.backends()
            if params["watchdog"]:
                result["watchdog"] = pcp.watchdog()
            if node_id is None and node_host is None:
                module.exit_json(msg=f"pgpool has {len(result['backends'])} backends", **result)
            node = find_node(result["backends"], node_id, node_host)
            result["node"] = node
            decision = decide(
                node["status"], node["role"], node["pg_role"], params["state"], params["switchover"]
            )
            if decision.action == "refuse":
                module.fail_json(msg=f"{label(node)}: {decision.reason}", **result)
            if decision.action is None:
                if params["state"] == "primary" and node["pg_role"] != "primary":
                    module.warn(
                        f"pgpool has {label(node)} as its primary, but PostgreSQL on it reports"
                        f" {node['pg_role']}: writes through pgpool will fail"
                    )
                module.exit_json(msg=f"{label(node)}: {decision.reason}", **result)
            if module.check_mode:
                result["changed"] = True
                module.exit_json(
                    msg=f"{WOULD[decision.action].format(label(node))}: {decision.reason}", **result
                )
            result["changed"] = True
            result["node"], problem = act(pcp, node, decision.action, params)
            # Re-read them all: a promotion also marks the other nodes down.
            result["backends"] = pcp.backends()
            if problem:
                module.fail_json(msg=problem, **result)
            node = result["node"] = result["backends"][node["node_id"]]
            done = DONE[decision.action].format(label(node))
            module.exit_json(
                msg=f"{done}: pgpool now has it {node['status']} as {node['role']}", **result
            )
    except PcpError as error:
        module.fail_json(msg=str(error), **result)


if __name__ == "__main__":
    main()
