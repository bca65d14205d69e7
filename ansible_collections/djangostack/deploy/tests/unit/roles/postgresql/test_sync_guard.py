"""The synchronous-replication guard's decision, branch by branch."""

from __future__ import annotations

import pytest

from ansible_collections.djangostack.deploy.tests.unit.role_scripts import load_role_script

guard = load_role_script("postgresql", "djangostack-sync-guard.py", "sync_guard")
WANTED = 'ANY 1 ("db2")'


def decide(
    mode: str = "sync",
    streaming: frozenset[str] = frozenset(),
    current: str = WANTED,
    now: float = 100.0,
    state: object | None = None,
    candidates: tuple[str, ...] = ("db2",),
) -> str:
    return guard.desired_names(
        mode, list(candidates), set(streaming), current, state or guard.State(), now, 5.0
    )


def test_async_mode_keeps_the_list_empty() -> None:
    assert decide(mode="async", streaming=frozenset({"db2"})) == ""


def test_no_candidates_means_nothing_to_wait_for() -> None:
    assert decide(candidates=()) == ""


def test_sync_waits_for_a_streaming_standby() -> None:
    assert decide(streaming=frozenset({"db2"}), current="") == WANTED


def test_a_standby_that_is_not_a_candidate_does_not_count() -> None:
    assert decide(streaming=frozenset({"intruder"}), current="") == ""


def test_sync_holds_during_the_grace_period_then_falls_back() -> None:
    state = guard.State()
    assert decide(now=100.0, state=state) == WANTED  # standby just lost: hold
    assert decide(now=104.9, state=state) == WANTED  # still within the grace period
    assert decide(now=105.0, state=state) == ""  # bounded wait over: asynchronous


def test_sync_returns_when_the_standby_streams_again() -> None:
    state = guard.State()
    assert decide(now=100.0, state=state) == WANTED
    assert decide(now=106.0, state=state) == ""
    assert decide(now=107.0, current="", streaming=frozenset({"db2"}), state=state) == WANTED
    # The clock restarts: a later loss gets its full grace period again.
    assert decide(now=200.0, state=state) == WANTED
    assert decide(now=204.0, state=state) == WANTED


def test_a_list_the_guard_did_not_set_is_replaced_at_once() -> None:
    # After a promotion the cloned postgresql.auto.conf names the new primary itself.
    assert decide(current='ANY 1 ("db1")') == ""
    assert decide(current='ANY 1 ("db1")', streaming=frozenset({"db2"})) == WANTED


def test_async_without_standby_stays_async() -> None:
    assert decide(current="") == ""


def test_strict_never_falls_back() -> None:
    state = guard.State()
    assert decide(mode="sync_strict", now=100.0, state=state) == WANTED
    assert decide(mode="sync_strict", now=10_000.0, state=state) == WANTED
    assert decide(mode="sync_strict", current="") == WANTED


def test_names_are_quoted_and_ordered() -> None:
    assert guard.standby_list(["db3", 'we"ird', "db2"]) == 'ANY 1 ("db2", "db3", "we""ird")'


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown synchronous mode"):
        decide(mode="eventually")


def test_a_node_just_promoted_does_not_wait_out_the_grace() -> None:
    """Its list still names the standbys it had (left by a switchover, or copied): none
    of them streams from the new timeline, so commits are released at the first look."""
    state = guard.State(was_standby=True)
    assert decide(current=WANTED, state=state) == ""
    assert state.was_standby is False
    # ...and synchronous mode returns as soon as a standby streams from it.
    assert decide(streaming=frozenset({"db2"}), current="", state=state) == WANTED


def test_a_primary_that_was_not_promoted_keeps_the_grace() -> None:
    state = guard.State()
    assert decide(current=WANTED, state=state, now=100.0) == WANTED
