"""The firewall's SSH guard: an address is admitted only by a network that holds it."""

from __future__ import annotations

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.networks_admit import (
    FilterModule,
    networks_admit,
)


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"networks_admit": networks_admit}


@pytest.mark.parametrize(
    "networks", [["10.42.1.7/32"], ["10.42.1.7"], ["192.0.2.0/24", "10.42.0.0/16"]]
)
def test_a_network_holding_the_address_admits_it(networks: list[str]) -> None:
    assert networks_admit(networks, "10.42.1.7")


@pytest.mark.parametrize(
    ("networks", "address"),
    [
        ([], "10.42.1.7"),  # SSH closed: nothing admits the controller
        (["10.42.1.8/32"], "10.42.1.7"),
        (["10.43.0.0/16"], "10.42.1.7"),
        (["not a network", "300.1.1.1/32"], "10.42.1.7"),
        (["10.42.0.0/16"], ""),  # no SSH client known
        (["10.42.0.0/16"], "fe80::1"),
    ],
)
def test_anything_else_does_not(networks: list[str], address: str) -> None:
    assert not networks_admit(networks, address)
