#!/usr/bin/python
"""Promote a PostgreSQL standby to primary over SQL, and wait until it accepts writes."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_promote
short_description: Promote a PostgreSQL standby and wait until it accepts writes
description:
  - Promotes a streaming standby with C(pg_promote()) over SQL, so no SSH access between
    hosts and no trigger file is needed, then waits until the server accepts writes.
  - No change when the server is already a primary, so several callers racing to promote
    the same node (several pgpool hosts, say) all succeed and only one acts.
  - Refuses when the standby is further behind than O(max_lag_bytes), unless O(force),
    because promoting a lagging standby loses the writes it has not received.
version_added: 0.1.0
author: djangostack team (@djangostack)
extends_documentation_fragment:
  - djangostack.deploy.postgres
attributes:
  check_mode:
    support: full
    description: Reports whether it would promote, without promoting.
options:
  max_lag_bytes:
    description:
      - The most WAL, in bytes, the standby may be behind for the promotion to go ahead.
      - Behind means received but not replayed, plus, when O(primary_lsn) is given, not
        yet received.
    type: int
    default: 16777216
  primary_lsn:
    description:
      - The old primary's last known WAL position (from M(djangostack.deploy.pg_replication_info)
        while it still answered), to count what the standby has not received.
    type: str
  force:
    description: Promote whatever the lag. Writes the standby has not received are lost.
    type: bool
    default: false
  wait_seconds:
    description: How long to wait for the promotion and for the first write to succeed.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Promote the standby
  djangostack.deploy.pg_promote:
    max_lag_bytes: 0
  become: true
  become_user: postgres
  register: promotion

- name: Show the new timeline
  ansible.builtin.debug:
    msg: "primary on timeline {{ promotion.timeline }} after {{ promotion.seconds }} s"
"""

RETURN = r"""
timeline:
  description: The server's timeline after the module ran (a new one after a promotion).
  returned: success
  type: int
  sample: 2
previous_timeline:
  description: The timeline before the promotion.
  returned: success
  type: int
lag_bytes:
  description: How far behind the standby was, as measured for the decision.
  returned: success
  type: int
seconds:
  description: From the promotion request until the first write succeeded.
  returned: when promoted
  type: float
msg:
  description: What was decided.
  returned: always
  type: str
"""

import time
from typing import Any, NamedTuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.djangostack.deploy.plugins.module_utils.postgres import (
    connect,
    connection_argument_spec,
    query_one,
)


class Decision(NamedTuple):
    action: str  # "promote", "none" (already primary), "refuse", "unreachable"
    reason: str


def decide(in_recovery: bool | None, lag_bytes: int, max_lag_bytes: int, force: bool) -> Decision:
    """Whether to promote: the whole decision, as a pure function.

    in_recovery is None when the server did not answer.
    """
    if in_recovery is None:
        return Decision("unreachable", "the server does not answer: nothing to promote")
    if not in_recovery:
        return Decision("none", "already a primary")
    if lag_bytes > max_lag_bytes and not force:
        return Decision(
            "refuse",
            f"the standby is {lag_bytes} bytes behind, more than max_lag_bytes={max_lag_bytes};"
            " promoting it would lose those writes (force=true to accept that)",
        )
    if lag_bytes > max_lag_bytes:
        return Decision("promote", f"forced, {lag_bytes} bytes behind")
    return Decision("promote", f"{lag_bytes} bytes behind")


# How far the standby has got: the furthest of what it received and what it replayed. The
# receive position alone goes back to a segment start whenever the WAL receiver restarts
# (after the primary stopped, say), and is NULL before streaming ever began.
LAG_SQL = """
WITH standby_position AS (
  SELECT pg_last_wal_replay_lsn() AS replayed,
         greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS reached
)
SELECT pg_is_in_recovery() AS in_recovery,
       coalesce(pg_wal_lsn_diff(reached, replayed), 0)::bigint AS replay_lag,
       CASE WHEN %(primary_lsn)s::text IS NULL OR reached IS NULL THEN 0
            ELSE greatest(pg_wal_lsn_diff(%(primary_lsn)s::pg_lsn, reached), 0)
       END::bigint AS receive_lag
  FROM standby_position
"""

TIMELINE_SQL = """
SELECT CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END AS timeline
"""


def timeline(connection: Any) -> int:
    return int(query_one(connection, TIMELINE_SQL)["timeline"])


def promote(connection: Any, wait_seconds: int) -> float:
    """Request the promotion, then wait until a transaction can take a write XID."""
    started = time.monotonic()
    query_one(connection, "SELECT pg_promote(true, %s) AS promoted", (wait_seconds,))
    deadline = started + wait_seconds
    while True:
        try:
            query_one(connection, "SELECT pg_current_xact_id() AS xid")
            return time.monotonic() - started
        except Exception:  # read-only until recovery has fully ended
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        max_lag_bytes={"type": "int", "default": 16 * 1024 * 1024},
        primary_lsn={"type": "str"},
        force={"type": "bool", "default": False},
        wait_seconds={"type": "int", "default": 60},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    connection = connect(module)  # fails the module when the server does not answer
    try:
        try:
            state = query_one(connection, LAG_SQL, {"primary_lsn": params["primary_lsn"]})
        except Exception:  # gone between the connection and the question: not a standby we know
            state = {}
        lag_bytes = int(state.get("replay_lag") or 0) + int(state.get("receive_lag") or 0)
        decision = decide(
            state.get("in_recovery"), lag_bytes, params["max_lag_bytes"], params["force"]
        )
        if decision.action == "unreachable":
            module.fail_json(msg=decision.reason)
        before = timeline(connection)
        result: dict[str, Any] = {"lag_bytes": lag_bytes, "previous_timeline": before}
        if decision.action == "refuse":
            module.fail_json(msg=decision.reason, **result)
        if decision.action == "none" or module.check_mode:
            module.exit_json(
                changed=decision.action == "promote", msg=decision.reason, timeline=before, **result
            )
        try:
            seconds = promote(connection, params["wait_seconds"])
        except Exception as error:
            # Another caller promoted it first: recovery ended under us. Same outcome.
            if query_one(connection, "SELECT pg_is_in_recovery() AS r")["r"]:
                module.fail_json(msg=f"promotion did not complete: {error}", **result)
            seconds = 0.0
        module.exit_json(
            changed=True,
            msg=f"promoted ({decision.reason})",
            timeline=timeline(connection),
            seconds=round(seconds, 3),
            **result,
        )
    finally:
        connection.close()


if __name__ == "__main__":
    main()
