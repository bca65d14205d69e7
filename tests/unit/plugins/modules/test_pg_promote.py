"""Every branch of the promotion decision."""

from __future__ import annotations

from ansible_collections.djangostack.deploy.plugins.modules.pg_promote import decide

MiB = 1024 * 1024


def test_an_unreachable_server_is_never_promoted_even_when_forced() -> None:
    assert decide(None, 0, 16 * MiB, force=False).action == "unreachable"
    assert decide(None, 0, 16 * MiB, force=True).action == "unreachable"


def test_an_existing_primary_is_left_alone() -> None:
    decision = decide(False, 0, 16 * MiB, force=False)
    assert decision.action == "none"
    assert decision.reason == "already a primary"
    # Forcing does not demote or re-promote a primary either.
    assert decide(False, 99 * MiB, 0, force=True).action == "none"


def test_a_standby_within_the_limit_is_promoted() -> None:
    assert decide(True, 0, 0, force=False).action == "promote"
    assert decide(True, 16 * MiB, 16 * MiB, force=False).action == "promote"


def test_a_lagging_standby_is_refused_with_the_figures() -> None:
    decision = decide(True, 16 * MiB + 1, 16 * MiB, force=False)
    assert decision.action == "refuse"
    assert str(16 * MiB + 1) in decision.reason
    assert "max_lag_bytes=16777216" in decision.reason


def test_a_lagging_standby_is_promoted_when_forced() -> None:
    decision = decide(True, 64 * MiB, 16 * MiB, force=True)
    assert decision.action == "promote"
    assert decision.reason.startswith("forced")
