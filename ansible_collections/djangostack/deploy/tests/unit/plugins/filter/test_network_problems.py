"""Networks are read as AWS and nftables read them, and every bad one is named."""

from __future__ import annotations

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.network_problems import (
    FilterModule,
    network_problems,
)


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"network_problems": network_problems}


@pytest.mark.parametrize(
    "networks", [[], ["203.0.113.7/32"], ["203.0.113.7"], ["10.0.0.0/16", "192.0.2.0/24"]]
)
def test_valid_networks_have_no_problem(networks: list[str]) -> None:
    assert network_problems(networks, min_prefix=16) == []


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        # The bypass of the old check: AWS widens this to 0.0.0.0/0.
        ("203.0.113.7/0", "is a /0, shorter than /16"),
        ("0.0.0.0/0", "is a /0, shorter than /16"),
        ("10.0.0.0/8", "is a /8, shorter than /16"),
        ("300.1.1.1/32", "is not an IPv4 network or address"),
        ("203.0.113.7/24", "has host bits set"),
        ("my laptop", "is not an IPv4 network or address"),
        ("2001:db8::/32", "is not an IPv4 network or address"),
        ("", "is not an IPv4 network or address"),
    ],
)
def test_each_bad_entry_is_named_with_its_problem(entry: str, says: str) -> None:
    (problem,) = network_problems(["192.0.2.0/24", entry], min_prefix=16)
    assert problem.startswith(repr(entry))
    assert says in problem


def test_a_string_instead_of_a_list_is_a_problem() -> None:
    assert network_problems("203.0.113.7/32") == [
        "'203.0.113.7/32' is a string, not a list of networks"
    ]  # type: ignore[arg-type]


def test_private_refuses_public_addresses_only() -> None:
    assert (
        network_problems(["10.1.2.3", "172.30.10.11", "127.0.0.1", "100.64.0.1"], private=True)
        == []
    )
    assert network_problems(["8.8.8.8"], private=True) == ["'8.8.8.8' is a public address"]


def test_without_a_minimum_any_prefix_is_valid() -> None:
    assert network_problems(["0.0.0.0/0"]) == []
