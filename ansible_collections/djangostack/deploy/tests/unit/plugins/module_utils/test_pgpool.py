"""The PCP helpers, on output captured from the real pcp_node_info.

The fixtures are verbatim stdout of `pcp_node_info --verbose -n N` from pgpool-II 4.3.5
(Debian 12's pgpool2) in front of two PostgreSQL 15 clusters, at first a primary on
127.0.0.1:5432 (node 0) and a streaming standby on 127.0.0.2:5433 (node 1), in the states
their names say:

- primary_up, standby_up_streaming: both in use;
- standby_detached, primary_detached: after pcp_detach_node (PostgreSQL still up);
- standby_attached_waiting: after pcp_attach_node, before a session used it;
- mispromoted_standby, mispromoted_old_primary: after pcp_promote_node -n 1 while node 1
  was still in recovery (what the module refuses to do);
- primary_stopped: node 0's PostgreSQL stopped, pgpool's health check detached it;
- standby_promoted_in_postgresql: then node 1 promoted with pg_promote(), pgpool not told;
- promoted_node1, promoted_node1_old_primary: after the module's state=primary on node 1;
- standby_without_pg_monitor: node 0 rebuilt as a standby of node 1, with pgpool's
  sr_check_user no longer in pg_monitor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.djangostack.deploy.plugins.module_utils.pgpool import (
    PcpError,
    error_in,
    parse_node_info,
    parse_watchdog_info,
    pcppass_line,
)

FIXTURES = Path(__file__).parent / "fixtures" / "pcp_node_info"


def captured(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def test_a_primary_in_use() -> None:
    assert parse_node_info(0, captured("primary_up")) == {
        "node_id": 0,
        "hostname": "127.0.0.1",
        "port": 5432,
        "status": "up",
        "weight": 0.5,
        "role": "primary",
        "pg_status": "up",
        "pg_role": "primary",
        "replication_delay": 0,
        "replication_state": "none",
        "replication_sync_state": "none",
        "last_status_change": "2026-11-28 00:09:22",
    }


def test_a_streaming_standby() -> None:
    node = parse_node_info(1, captured("standby_up_streaming"))
    assert (node["node_id"], node["hostname"], node["port"]) == (1, "127.0.0.2", 5433)
    assert (node["status"], node["role"], node["pg_role"]) == ("up", "standby", "standby")
    assert (node["replication_state"], node["replication_sync_state"]) == ("streaming", "async")


def test_a_detached_standby_is_down_in_pgpool_while_postgresql_is_up() -> None:
    node = parse_node_info(1, captured("standby_detached"))
    assert node["status"] == "down"
    assert node["pg_status"] == "up"
    assert node["role"] == "standby"


def test_a_detached_primary_keeps_its_role_in_pgpool() -> None:
    node = parse_node_info(0, captured("primary_detached"))
    assert (node["status"], node["role"]) == ("down", "primary")


def test_a_standby_attached_again_waits_for_its_first_session() -> None:
    assert parse_node_info(1, captured("standby_attached_waiting"))["status"] == "waiting"


def test_a_lost_primary_is_down_in_pgpool_and_of_unknown_role_in_postgresql() -> None:
    node = parse_node_info(0, captured("primary_stopped"))
    assert (node["status"], node["pg_status"], node["pg_role"]) == ("down", "down", "unknown")


def test_a_standby_promoted_behind_pgpools_back() -> None:
    node = parse_node_info(1, captured("standby_promoted_in_postgresql"))
    assert (node["status"], node["role"], node["pg_role"]) == ("waiting", "standby", "primary")


def test_after_pcp_promote_node_the_promoted_node_is_primary_and_the_other_down() -> None:
    promoted = parse_node_info(1, captured("promoted_node1"))
    assert (promoted["status"], promoted["role"], promoted["pg_role"]) == (
        "waiting",
        "primary",
        "primary",
    )
    old = parse_node_info(0, captured("promoted_node1_old_primary"))
    assert (old["status"], old["role"]) == ("down", "standby")


def test_pgpools_role_can_contradict_postgresqls() -> None:
    # pcp_promote_node without --switchover on a node still in recovery: pgpool believes it.
    standby = parse_node_info(1, captured("mispromoted_standby"))
    assert (standby["role"], standby["pg_role"]) == ("primary", "standby")
    old_primary = parse_node_info(0, captured("mispromoted_old_primary"))
    assert (old_primary["status"], old_primary["pg_status"]) == ("down", "up")
    assert (old_primary["role"], old_primary["pg_role"]) == ("standby", "primary")


def test_unreadable_replication_fields_print_none_in_4_3() -> None:
    node = parse_node_info(0, captured("standby_without_pg_monitor"))
    assert (node["replication_state"], node["replication_sync_state"]) == ("none", "none")


def test_empty_fields_stay_in_place() -> None:
    # Older pgpool versions print the replication fields empty; in the plain form that
    # shifts the timestamp into their place, the labels do not move.
    text = captured("standby_without_pg_monitor").replace(": none", ":")
    node = parse_node_info(0, text)
    assert (node["replication_state"], node["replication_sync_state"]) == (None, None)
    assert node["last_status_change"] == "2026-11-28 00:17:48"


def test_an_unknown_node_id_prints_nothing_on_stdout_and_is_an_error() -> None:
    # pcp_node_info -n 7 with two backends: exit 0, stdout empty, ERROR on stderr.
    with pytest.raises(PcpError, match="node 7"):
        parse_node_info(7, "")


def test_output_without_the_labels_is_an_error() -> None:
    with pytest.raises(PcpError, match="no hostname, port, status, role"):
        parse_node_info(0, "127.0.0.1 5432 2 0.500000 up up primary primary 0 none none x y\n")


def test_a_replication_delay_with_a_unit_is_kept_as_printed() -> None:
    text = captured("standby_up_streaming").replace(
        "Replication Delay      : 0", "Replication Delay      : 2 second(s)"
    )
    assert parse_node_info(1, text)["replication_delay"] == "2 second(s)"


def test_the_password_file_line_escapes_separators() -> None:
    assert pcppass_line("pcpadmin", "s3cret") == "*:*:pcpadmin:s3cret\n"
    assert pcppass_line("pcp:admin", "a:b\\c") == "*:*:pcp\\:admin:a\\:b\\\\c\n"


def test_a_password_longer_than_pgpool_reads_is_refused() -> None:
    pcppass_line("pcpadmin", "x" * 300)
    with pytest.raises(PcpError, match="too long"):
        pcppass_line("pcpadmin", "x" * 320)


def test_errors_are_recognised_on_stderr() -> None:
    assert error_in("ERROR:  informing node info failed\nDETAIL:  invalid node ID : 7\n")
    assert error_in('FATAL:  authentication failed for user "admin"\n')
    assert not error_in("")
    assert not error_in("pcp_attach_node -- Command Successful\n")


# --- pcp_watchdog_info --verbose ------------------------------------------------------------
# Captured on the lab (pgpool-II 4.3.5, Debian 12), on web1, with pgpool_watchdog_hosts web1,
# web2 and witness1:
# - three_members: all three running, witness1 the leader;
# - alone: web2's and witness1's pgpool stopped.
WATCHDOG = Path(__file__).parent / "fixtures" / "pcp_watchdog_info"


def test_three_members_hold_the_quorum_and_name_their_leader() -> None:
    watchdog = parse_watchdog_info((WATCHDOG / "three_members.txt").read_text())
    assert watchdog["nodes"] == 3
    assert watchdog["alive_remote_nodes"] == 2
    assert (watchdog["quorum_state"], watchdog["quorum"]) == ("QUORUM EXIST", True)
    assert watchdog["leader"] == "172.30.20.35:5432 Linux witness1"
    assert [m["name"].split()[-1] for m in watchdog["members"]] == ["web1", "web2", "witness1"]
    assert [m["status"] for m in watchdog["members"]] == ["STANDBY", "STANDBY", "LEADER"]


def test_a_member_alone_has_no_quorum() -> None:
    watchdog = parse_watchdog_info((WATCHDOG / "alone.txt").read_text())
    assert watchdog["alive_remote_nodes"] == 0
    assert watchdog["quorum"] is False
    assert watchdog["quorum_state"] != "QUORUM EXIST"


def test_watchdog_output_without_the_cluster_lines_is_an_error() -> None:
    with pytest.raises(PcpError, match="unexpected pcp_watchdog_info output"):
        parse_watchdog_info("ERROR: watchdog is not enabled\n")
