"""The operator's restore target, read and refused before restore.yml changes anything."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangostack.deploy.plugins.filter.restore_target import (
    FilterModule,
    restore_target,
)

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC).timestamp()
OLDEST = datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC).timestamp()


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"restore_target": restore_target}


def test_latest_is_the_end_of_the_archive() -> None:
    assert restore_target("latest", NOW, OLDEST)["type"] == "default"


def test_a_named_restore_point() -> None:
    plan = restore_target("name:before-migration-42", NOW, OLDEST)
    assert (plan["type"], plan["target"]) == ("name", "before-migration-42")


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07 11:20:03.123456+00:00",
        "2026-12-07T11:20:03.123456Z",
        "2026-12-07 12:20:03.123456+01:00",
        "2026-12-07 11:20:03.123456+00",
    ],
)
def test_a_time_in_any_zone_is_given_to_pgbackrest_in_utc(text: str) -> None:
    assert restore_target(text, NOW, OLDEST) == {
        "type": "time",
        "target": "2026-12-07 11:20:03.123456+00",
        "describe": "the time 2026-12-07 11:20:03.123456+00",
    }


@pytest.mark.parametrize(
    ("text", "oldest", "says"),
    [
        ("2026-12-07 11:20:03", OLDEST, "has no time zone"),
        ("2026-12-07 12:00:01+00:00", OLDEST, "is in the future"),
        ("2026-12-07 10:59:59+00:00", OLDEST, "before the end of the oldest backup"),
        ("latest", None, "holds no backup"),
        ("", OLDEST, "must be 'latest'"),
        ("yesterday", OLDEST, "must be 'latest'"),
        ("name:", OLDEST, "restore point's name"),
        ("name:" + "x" * 64, OLDEST, "restore point's name"),
    ],
)
def test_a_target_no_restore_can_reach_is_refused_naming_the_variable(
    text: str, oldest: float | None, says: str
) -> None:
    with pytest.raises(AnsibleFilterError, match="restore_target") as refused:
        restore_target(text, NOW, oldest)
    assert says in str(refused.value)
