#!/usr/bin/python
"""Read a PostgreSQL node's replication state: the live topology, from the database itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_replication_info
short_description: Read a PostgreSQL node's replication role, timeline, positions and lag
description:
  - Asks a PostgreSQL server what it is now, never what an inventory intended (primary or
    standby), its timeline, its WAL positions and lag, and for a primary the standbys
    connected to it with their sync state.
  - Playbooks use it to find the live primary after a failover.
version_added: 0.1.0
author: djangostack team (@djangostack)
extends_documentation_fragment:
  - djangostack.deploy.postgres
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same facts.
options: {}
notes:
  - On a standby, C(lag_bytes) and C(lag_seconds) measure how far replay is behind what the
    standby has received; what it has not received yet only the primary knows (its
    C(standbys[].lag_bytes)).
"""

EXAMPLES = r"""
- name: Read the node's replication state over the local socket
  djangostack.deploy.pg_replication_info:
  become: true
  become_user: postgres
  register: replication

- name: Show who is primary
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ replication.role }}, timeline {{ replication.timeline }}"
"""

RETURN = r"""
role:
  description: C(primary) or C(standby).
  returned: always
  type: str
  sample: primary
timeline:
  description: The timeline the node is on (increases with every promotion).
  returned: always
  type: int
  sample: 2
current_lsn:
  description: The primary's current WAL write position.
  returned: when role is primary
  type: str
  sample: 0/3000148
received_lsn:
  description:
    - The furthest WAL position the standby has, received or replayed (the receive position
      alone goes back to a segment start when the WAL receiver restarts).
  returned: when role is standby
  type: str
replayed_lsn:
  description: The last WAL position the standby replayed.
  returned: when role is standby
  type: str
lag_bytes:
  description: On a standby, received minus replayed WAL, in bytes; 0 on a primary.
  returned: always
  type: int
lag_seconds:
  description:
    - On a standby, seconds since the last replayed transaction when replay is behind, else
      0; 0 on a primary.
  returned: always
  type: float
upstream_host:
  description: The host the standby streams from, as its WAL receiver reports it.
  returned: when role is standby
  type: str
receiver_status:
  description: The WAL receiver's status (C(streaming) when healthy), or null when none runs.
  returned: when role is standby
  type: str
synchronous_standby_names:
  description: The primary's synchronous_standby_names (empty when asynchronous).
  returned: when role is primary
  type: str
standbys:
  description: The standbys streaming from this primary.
  returned: always
  type: list
  elements: dict
  contains:
    application_name:
      description: The standby's name (its inventory hostname in this collection).
      type: str
    client_addr:
      description: Its address.
      type: str
    state:
      description: C(streaming), C(catchup), ...
      type: str
    sync_state:
      description: C(async), C(potential), C(sync) or C(quorum).
      type: str
    replay_lsn:
      description: Its replay position.
      type: str
    lag_bytes:
      description: The primary's current position minus its replay position.
      type: int
    lag_seconds:
      description: PostgreSQL's replay_lag, in seconds (0 when idle).
      type: float
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.djangostack.deploy.plugins.module_utils.postgres import (
    connect,
    connection_argument_spec,
    query_all,
    query_one,
)

PRIMARY_SQL = """
SELECT pg_current_wal_lsn()::text AS current_lsn,
       pg_walfile_name(pg_current_wal_lsn()) AS walfile,
       current_setting('synchronous_standby_names') AS synchronous_standby_names
"""

STANDBYS_SQL = """
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float AS lag_seconds
  FROM pg_stat_replication ORDER BY application_name
"""

STANDBY_SQL = """
SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       coalesce(pg_wal_lsn_diff(greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),
                                pg_last_wal_replay_lsn()), 0)::bigint AS lag_bytes,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float AS since_last_replay,
       (SELECT received_tli FROM pg_stat_wal_receiver) AS received_tli,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
       (SELECT sender_host FROM pg_stat_wal_receiver) AS upstream_host,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli
"""


def timeline_from_walfile(walfile: str) -> int:
    """A WAL file name starts with the timeline in 8 hex digits: 00000002... is timeline 2."""
    return int(walfile[:8], 16)


def primary_info(row: dict[str, Any], standbys: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "primary",
        "timeline": timeline_from_walfile(row["walfile"]),
        "current_lsn": row["current_lsn"],
        "lag_bytes": 0,
        "lag_seconds": 0.0,
        "synchronous_standby_names": row["synchronous_standby_names"],
        "standbys": [
            {
                **standby,
                "lag_bytes": int(standby["lag_bytes"] or 0),
                "lag_seconds": float(standby["lag_seconds"] or 0.0),
            }
            for standby in standbys
        ],
    }


def standby_info(row: dict[str, Any]) -> dict[str, Any]:
    lag_bytes = int(row["lag_bytes"] or 0)
    # Seconds behind only mean something while replay is behind what was received: an idle
    # primary sends nothing, and the last replayed transaction grows old without any lag.
    lag_seconds = float(row["since_last_replay"] or 0.0) if lag_bytes > 0 else 0.0
    return {
        "role": "standby",
        "timeline": int(row["received_tli"] or row["checkpoint_tli"]),
        "received_lsn": row["received_lsn"],
        "replayed_lsn": row["replayed_lsn"],
        "lag_bytes": lag_bytes,
        "lag_seconds": max(lag_seconds, 0.0),
        "upstream_host": row["upstream_host"],
        "receiver_status": row["receiver_status"],
        "standbys": [],
    }


def main() -> None:
    module = AnsibleModule(argument_spec=connection_argument_spec(), supports_check_mode=True)
    connection = connect(module)
    try:
        if query_one(connection, "SELECT pg_is_in_recovery() AS in_recovery")["in_recovery"]:
            info = standby_info(query_one(connection, STANDBY_SQL))
        else:
            info = primary_info(
                query_one(connection, PRIMARY_SQL), query_all(connection, STANDBYS_SQL)
            )
    finally:
        connection.close()
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
