"""Every branch of the promotion decision."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.djangostack.deploy.plugins.modules import pg_promote
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


# --- main(): the decision enforced --------------------------------------------------------


class Exit(Exception):
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result)
        self.result, self.failed = result, failed


class FakeConnection:
    """A server that answers the connection, then not the question (it went away)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def close(self) -> None:
        pass


def run_main(monkeypatch: pytest.MonkeyPatch, answer: Any, **args: Any) -> tuple[Exit, list[str]]:
    connection = FakeConnection()

    def query_one(_connection: Any, sql: str, _args: Any = ()) -> dict[str, Any]:
        connection.queries.append(sql)
        return answer(sql)

    def leave(failed: bool) -> Any:
        def exit_json(_module: Any, **result: Any) -> None:
            raise Exit(result, failed)

        return exit_json

    monkeypatch.setattr(pg_promote, "connect", lambda _module: connection)
    monkeypatch.setattr(pg_promote, "query_one", query_one)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", leave(False))
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", leave(True))
    with patch_module_args(args), pytest.raises(Exit) as raised:
        pg_promote.main()
    return raised.value, connection.queries


def gone(_sql: str) -> dict[str, Any]:
    raise ConnectionError("server closed the connection unexpectedly")


@pytest.mark.parametrize("force", [False, True])
def test_main_never_promotes_a_server_that_stops_answering(
    monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    outcome, queries = run_main(monkeypatch, gone, force=force)
    assert outcome.failed, outcome.result
    assert "does not answer" in outcome.result["msg"]
    assert not [sql for sql in queries if "pg_promote" in sql]


def test_main_never_promotes_when_the_server_gives_no_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcome, queries = run_main(monkeypatch, lambda _sql: {}, force=True)
    assert outcome.failed and "does not answer" in outcome.result["msg"]
    assert not [sql for sql in queries if "pg_promote" in sql]


def test_main_promotes_a_standby_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same fake, answering: the promotion runs (the tests above are not vacuous)."""
    promoted = []

    def standby(sql: str) -> dict[str, Any]:
        if "pg_promote(" in sql:
            promoted.append(sql)
            return {"promoted": True}
        if "AS timeline" in sql:
            return {"timeline": 2 if promoted else 1}
        if "AS in_recovery" in sql:
            return {"in_recovery": not promoted, "replay_lag": 0, "receive_lag": 0}
        return {"xid": "1"}

    outcome, _result = run_main(monkeypatch, standby)
    assert not outcome.failed, outcome.result
    assert promoted and outcome.result["changed"] is True
