"""Every branch of pgpool_backend's decision, and the module run against a fake pgpool.

The fake answers pcp_node_info with output captured from the real pgpool-II 4.3.5 (see
tests/unit/plugins/module_utils/test_pgpool.py) and records every pcp program run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.djangostack.deploy.plugins.module_utils import pgpool as pgpool_utils
from ansible_collections.djangostack.deploy.plugins.module_utils.pgpool import PcpError
from ansible_collections.djangostack.deploy.plugins.modules import pgpool_backend
from ansible_collections.djangostack.deploy.plugins.modules.pgpool_backend import (
    decide,
    find_node,
    reached,
)

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pcp_node_info"
WATCHDOG = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pcp_watchdog_info"


# --- the decision ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["up", "waiting", "down", "unused", "quarantine"])
def test_info_never_acts(status: str) -> None:
    assert decide(status, "primary", "primary", None, switchover=False).action is None


@pytest.mark.parametrize("status", ["up", "waiting"])
def test_an_attached_node_is_not_attached_again(status: str) -> None:
    decision = decide(status, "standby", "standby", "attached", switchover=False)
    assert decision == (None, f"already attached ({status})")


@pytest.mark.parametrize("status", ["down", "unused", "quarantine"])
def test_a_node_pgpool_does_not_use_is_attached(status: str) -> None:
    assert decide(status, "standby", "standby", "attached", switchover=False).action == "attach"


@pytest.mark.parametrize("status", ["up", "waiting"])
def test_an_attached_node_is_detached(status: str) -> None:
    assert decide(status, "standby", "standby", "detached", switchover=False).action == "detach"


@pytest.mark.parametrize("status", ["down", "unused", "quarantine"])
def test_a_node_pgpool_does_not_use_is_not_detached_again(status: str) -> None:
    assert decide(status, "standby", "standby", "detached", switchover=False).action is None


@pytest.mark.parametrize("switchover", [False, True])
def test_pgpools_primary_is_left_alone(switchover: bool) -> None:
    decision = decide("up", "primary", "primary", "primary", switchover)
    assert decision == (None, "already pgpool's primary")


@pytest.mark.parametrize("status", ["down", "unused", "quarantine"])
def test_a_node_pgpool_does_not_use_is_not_made_primary(status: str) -> None:
    # Even one pgpool still records as primary: it is down in pgpool, attach it first.
    for role in ("standby", "primary"):
        decision = decide(status, role, "primary", "primary", switchover=False)
        assert decision.action == "refuse"
        assert "state=attached" in decision.reason


def test_outside_streaming_replication_mode_there_is_no_primary_to_move() -> None:
    decision = decide("up", "replica", "replica", "primary", switchover=False)
    assert decision.action == "refuse"
    assert "streaming replication mode" in decision.reason


def test_a_standby_already_promoted_in_postgresql_is_made_pgpools_primary() -> None:
    decision = decide("waiting", "standby", "primary", "primary", switchover=False)
    assert decision.action == "promote"


@pytest.mark.parametrize("pg_role", ["standby", "unknown", None])
def test_a_standby_still_in_recovery_is_not_made_pgpools_primary(pg_role: str | None) -> None:
    # pgpool would send writes to a read-only server and mark the real primary down.
    decision = decide("up", "standby", pg_role, "primary", switchover=False)
    assert decision.action == "refuse"
    assert "switchover=true" in decision.reason
    assert "pg_promote" in decision.reason


def test_a_switchover_promotes_a_standby_still_in_recovery() -> None:
    # pgpool's failover_command is what promotes it then.
    assert decide("up", "standby", "standby", "primary", switchover=True).action == "promote"


def test_what_each_action_waits_for() -> None:
    def node(status: str, role: str) -> dict[str, str]:
        return {"status": status, "role": role}

    assert reached(node("waiting", "standby"), "attach")
    assert not reached(node("down", "standby"), "attach")
    assert reached(node("down", "standby"), "detach")
    assert not reached(node("up", "standby"), "detach")
    assert reached(node("up", "primary"), "promote")
    assert not reached(node("up", "standby"), "promote")
    assert not reached(node("down", "primary"), "promote")


BACKENDS = [
    {"node_id": 0, "hostname": "db1", "port": 5432},
    {"node_id": 1, "hostname": "db2", "port": 5432},
    {"node_id": 2, "hostname": "db2", "port": 5433},
]


def test_a_node_is_found_by_id_or_by_unique_hostname() -> None:
    assert find_node(BACKENDS, 2, None)["port"] == 5433
    assert find_node(BACKENDS, None, "db1")["node_id"] == 0


def test_an_unknown_or_ambiguous_node_is_an_error_listing_the_backends() -> None:
    with pytest.raises(PcpError, match=r"no backend 3 .*0=db1:5432, 1=db2:5432, 2=db2:5433"):
        find_node(BACKENDS, 3, None)
    with pytest.raises(PcpError, match="no backend with backend_hostname db3"):
        find_node(BACKENDS, None, "db3")
    with pytest.raises(PcpError, match=r"several .* use node_id"):
        find_node(BACKENDS, None, "db2")


# --- the module against a fake pgpool -------------------------------------------------------


class Exit(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result)
        self.result = result


class Fail(Exit):
    pass


class FakePgpool:
    """pcp_* programs over two backends, answering with captured output."""

    def __init__(self, node0: str, node1: str) -> None:
        self.nodes = {0: node0, 1: node1}
        self.blank_reads = 0  # reads that print nothing first, as during a watchdog failover
        self.dropped_reads = 0  # reads whose PCP connection pgpool closes first
        self.calls: list[list[str]] = []
        self.passfiles: list[tuple[str, int, str]] = []
        self.effects: dict[str, dict[int, str]] = {
            "pcp_attach_node": {1: "standby_attached_waiting"},
            "pcp_detach_node": {1: "standby_detached"},
            "pcp_promote_node": {0: "promoted_node1_old_primary", 1: "promoted_node1"},
        }

    def run_command(self, args: list[str], environ_update: dict[str, str]) -> tuple[int, str, str]:
        """Stands in for AnsibleModule.run_command (patched on the class, bound here)."""
        passfile = environ_update["PCPPASSFILE"]
        self.passfiles.append(
            (passfile, stat.S_IMODE(os.stat(passfile).st_mode), Path(passfile).read_text())
        )
        program, own = os.path.basename(args[0]), args[8:]  # after -h -p -U -w
        self.calls.append([program, *own])
        if program in ("pcp_node_count", "pcp_node_info") and self.blank_reads:
            self.blank_reads -= 1
            return 0, "", ""
        if program in ("pcp_node_count", "pcp_node_info") and self.dropped_reads:
            self.dropped_reads -= 1
            return 1, "", "ERROR: unable to read data from socket.\n"
        if program == "pcp_node_count":
            return 0, f"{len(self.nodes)}\n", ""
        if program == "pcp_watchdog_info":
            return 0, (WATCHDOG / "three_members.txt").read_text(), ""
        node_id = int(own[own.index("-n") + 1])
        if program == "pcp_node_info":
            return 0, (FIXTURES / f"{self.nodes[node_id]}.txt").read_text(), ""
        for changed, fixture in self.effects[program].items():
            self.nodes[changed] = fixture
        return 0, f"{program} -- Command Successful\n", ""


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    def exit_json(_module: Any, **result: Any) -> None:
        raise Exit(result)

    def fail_json(_module: Any, **result: Any) -> None:
        raise Fail(result)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _m, name: f"/usr/sbin/{name}")
    monkeypatch.setattr(pgpool_backend.time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(pgpool_utils.time, "sleep", lambda _seconds: None)
    warnings: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda _m, warning: warnings.append(warning))

    def run(pgpool: FakePgpool, **args: Any) -> dict[str, Any]:
        monkeypatch.setattr(basic.AnsibleModule, "run_command", pgpool.run_command)
        args = {
            "pcp_user": "pcpadmin",
            "pcp_password": "pa:ss",
            "_ansible_remote_tmp": str(tmp_path),
            "_ansible_keep_remote_files": False,
            **args,
        }
        with patch_module_args(args), pytest.raises(Exit) as raised:
            pgpool_backend.main()
        return {
            "failed": isinstance(raised.value, Fail),
            "warnings": warnings,
            **raised.value.result,
        }

    return run


def healthy() -> FakePgpool:
    return FakePgpool("primary_up", "standby_up_streaming")


def actions(pgpool: FakePgpool) -> list[list[str]]:
    return [call for call in pgpool.calls if call[0] not in ("pcp_node_count", "pcp_node_info")]


def test_info_reads_every_backend(run: Any) -> None:
    pgpool = healthy()
    result = run(pgpool)
    assert not result["failed"] and not result["changed"]
    assert [b["role"] for b in result["backends"]] == ["primary", "standby"]
    assert "node" not in result
    assert pgpool.calls == [
        ["pcp_node_count"],
        ["pcp_node_info", "--verbose", "-n", "0"],
        ["pcp_node_info", "--verbose", "-n", "1"],
    ]


def test_reads_that_print_nothing_are_tried_again(run: Any) -> None:
    """With the watchdog, a failover on another member replaces this pgpool's PCP process;
    a read in that moment printed nothing and exited 0 (seen on the lab, failing repoint)."""
    pgpool = healthy()
    pgpool.blank_reads = 3
    result = run(pgpool)
    assert not result["failed"], result
    assert [b["role"] for b in result["backends"]] == ["primary", "standby"]


def test_reads_cut_off_by_pgpool_are_tried_again(run: Any) -> None:
    """Right after a restored primary was attached, a read failed with "unable to read
    data from socket" (seen on the lab, failing restore.yml's repoint)."""
    pgpool = healthy()
    pgpool.dropped_reads = 3
    result = run(pgpool)
    assert not result["failed"], result
    assert [b["role"] for b in result["backends"]] == ["primary", "standby"]


def test_reads_that_keep_printing_nothing_fail(run: Any) -> None:
    pgpool = healthy()
    pgpool.blank_reads = 100
    result = run(pgpool)
    assert result["failed"] and "pcp_node_count" in result["msg"], result


def test_the_watchdog_is_read_only_when_asked(run: Any) -> None:
    pgpool = healthy()
    assert "watchdog" not in run(pgpool)
    assert "pcp_watchdog_info" not in [call[0] for call in pgpool.calls]
    result = run(healthy(), watchdog=True)
    assert result["watchdog"]["quorum"] is True
    assert result["watchdog"]["nodes"] == 3


def test_the_password_reaches_the_programs_only_in_a_private_file(run: Any) -> None:
    pgpool = healthy()
    run(pgpool)
    for _path, mode, content in pgpool.passfiles:
        assert mode == 0o600
        assert content == "*:*:pcpadmin:pa\\:ss\n"
    assert not any(os.path.exists(path) for path, _mode, _content in pgpool.passfiles)
    assert not any("pa:ss" in arg for call in pgpool.calls for arg in call)


def test_detach_runs_pcp_detach_node_and_returns_the_node_down(run: Any) -> None:
    pgpool = healthy()
    result = run(pgpool, node_host="127.0.0.2", state="detached", gracefully=True)
    assert result["changed"] and not result["failed"]
    assert actions(pgpool) == [["pcp_detach_node", "-n", "1", "-g"]]
    assert result["node"]["status"] == "down"
    assert result["msg"].startswith("detached node 1 (127.0.0.2:5433)")


def test_a_detached_node_is_left_alone(run: Any) -> None:
    pgpool = FakePgpool("primary_up", "standby_detached")
    result = run(pgpool, node_id=1, state="detached")
    assert not result["changed"] and not result["failed"]
    assert actions(pgpool) == []


def test_check_mode_reports_and_runs_nothing_that_changes(run: Any) -> None:
    pgpool = FakePgpool("primary_up", "standby_detached")
    result = run(pgpool, node_id=1, state="attached", _ansible_check_mode=True)
    assert result["changed"] and not result["failed"]
    assert result["msg"] == "would attach node 1 (127.0.0.2:5433): pgpool has it down"
    assert result["node"]["status"] == "down"
    assert actions(pgpool) == []


def test_attach_waits_for_pgpool_to_use_the_node(run: Any) -> None:
    pgpool = FakePgpool("primary_up", "standby_detached")
    result = run(pgpool, node_id=1, state="attached")
    assert actions(pgpool) == [["pcp_attach_node", "-n", "1"]]
    assert result["node"]["status"] == "waiting"


def test_an_attach_pgpool_does_not_carry_out_fails_after_wait_seconds(run: Any) -> None:
    pgpool = FakePgpool("primary_up", "standby_detached")
    pgpool.effects["pcp_attach_node"] = {}  # queued behind a primary search, say
    result = run(pgpool, node_id=1, state="attached", wait_seconds=0)
    assert result["failed"]
    assert "pgpool still has node 1 (127.0.0.2:5433) down as standby after 0 s" in result["msg"]
    assert "search_primary_node_timeout" in result["msg"]
    assert result["node"]["status"] == "down"


def test_repointing_pgpool_after_a_promotion_over_sql(run: Any) -> None:
    # The primary was lost, the standby promoted with pg_promote(): pgpool's pg_role says so.
    pgpool = FakePgpool("primary_stopped", "standby_promoted_in_postgresql")
    result = run(pgpool, node_host="127.0.0.2", state="primary")
    assert result["changed"] and not result["failed"]
    assert actions(pgpool) == [["pcp_promote_node", "-n", "1"]]
    assert (
        result["msg"]
        == "made node 1 (127.0.0.2:5433) primary: pgpool now has it waiting as primary"
    )
    assert [(b["status"], b["role"]) for b in result["backends"]] == [
        ("down", "standby"),
        ("waiting", "primary"),
    ]
    assert result["node"] == result["backends"][1]


def test_pgpools_primary_is_not_promoted_again(run: Any) -> None:
    pgpool = FakePgpool("promoted_node1_old_primary", "promoted_node1")
    result = run(pgpool, node_id=1, state="primary")
    assert not result["changed"] and not result["failed"]
    assert actions(pgpool) == []
    assert result["warnings"] == []


def test_pgpools_primary_still_in_recovery_is_reported(run: Any) -> None:
    pgpool = FakePgpool("mispromoted_old_primary", "mispromoted_standby")
    result = run(pgpool, node_id=1, state="primary")
    assert not result["changed"] and not result["failed"]
    assert result["warnings"] == [
        "pgpool has node 1 (127.0.0.2:5433) as its primary, but PostgreSQL on it reports"
        " standby: writes through pgpool will fail"
    ]


def test_switchover_passes_the_flag(run: Any) -> None:
    pgpool = healthy()
    run(pgpool, node_id=1, state="primary", switchover=True, gracefully=True)
    assert actions(pgpool) == [["pcp_promote_node", "-n", "1", "-g", "--switchover"]]


def test_a_switchover_nothing_carries_out_points_at_the_failover_command(run: Any) -> None:
    pgpool = healthy()
    pgpool.effects["pcp_promote_node"] = {0: "primary_detached"}  # no failover_command
    result = run(pgpool, node_id=1, state="primary", switchover=True, wait_seconds=0)
    assert result["failed"] and result["changed"]
    assert "still has node 1 (127.0.0.2:5433) up as standby" in result["msg"]
    assert "is one set?" in result["msg"]
    assert result["backends"][0]["status"] == "down"  # re-read after the attempt


class AlreadyDown(FakePgpool):
    """pcp_detach_node of a node another caller detached a moment before: exit 0, ERROR."""

    def run_command(self, args: list[str], environ_update: dict[str, str]) -> tuple[int, str, str]:
        if os.path.basename(args[0]) == "pcp_detach_node":
            self.nodes[1] = "standby_detached"
            return 0, "", "ERROR:  invalid degenerate backend request, node id : 1 status: [3]\n"
        return super().run_command(args, environ_update)


def test_a_complaint_about_a_change_already_made_is_no_failure(run: Any) -> None:
    result = run(AlreadyDown("primary_up", "standby_up_streaming"), node_id=1, state="detached")
    assert result["changed"] and not result["failed"]


class Refusing(FakePgpool):
    """A pcp action program that fails and changes nothing."""

    def run_command(self, args: list[str], environ_update: dict[str, str]) -> tuple[int, str, str]:
        if os.path.basename(args[0]) == "pcp_attach_node":
            return 0, "", "ERROR:  something pgpool refused\n"
        return super().run_command(args, environ_update)


def test_a_complaint_with_no_change_fails_at_once_with_it(run: Any) -> None:
    result = run(Refusing("primary_up", "standby_detached"), node_id=1, state="attached")
    assert result["failed"]
    assert result["msg"] == (
        "pcp_attach_node said: ERROR:  something pgpool refused;"
        " pgpool still has node 1 (127.0.0.2:5433) down as standby"
    )


def test_a_refusal_fails_without_acting(run: Any) -> None:
    pgpool = healthy()
    result = run(pgpool, node_id=1, state="primary")
    assert result["failed"]
    assert result["msg"].startswith("node 1 (127.0.0.2:5433): PostgreSQL on it is standby")
    assert actions(pgpool) == []


class WrongPassword(FakePgpool):
    def run_command(self, args: list[str], environ_update: dict[str, str]) -> tuple[int, str, str]:
        return 1, "", 'FATAL:  authentication failed for user "pcpadmin"\n'


def test_a_pcp_failure_fails_the_module_with_what_the_program_said(run: Any) -> None:
    result = run(WrongPassword("primary_up", "standby_up_streaming"))
    assert result["failed"]
    assert result["msg"] == (
        'pcp_node_count failed (rc=1): FATAL:  authentication failed for user "pcpadmin"'
    )
