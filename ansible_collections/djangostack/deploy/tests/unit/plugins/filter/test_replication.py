from __future__ import annotations

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.replication import (
    replication_slot_name,
)


@pytest.mark.parametrize(
    ("hostname", "slot"),
    [
        ("db2", "db2"),
        ("DB2", "db2"),
        ("db2-a.example.com", "db2_a_example_com"),
        ("x" * 80, "x" * 63),
    ],
)
def test_slot_names_are_valid_and_stable(hostname: str, slot: str) -> None:
    assert replication_slot_name(hostname) == slot


def test_a_hostname_without_usable_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="no usable replication slot name"):
        replication_slot_name("---")
