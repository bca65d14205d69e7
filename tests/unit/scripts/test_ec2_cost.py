"""harness/ec2_cost.py: the stack file's shape priced line by line (the bastion and the
NAT gateway too), the role's defaults filling what the file leaves out, and a price it does
not know refused, never guessed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.ec2_cost import (
    BASTION_VOLUME_GB,
    PRICES,
    PUBLIC_IPV4_HOURLY,
    REPO,
    Line,
    cost_lines,
    stack_settings,
)


def by_name(lines: list[Line]) -> dict[str, Line]:
    return {line.what: line for line in lines}


def test_the_default_stack_is_priced_host_by_host() -> None:
    settings = stack_settings(REPO / "inventory/ec2/stack.yml")
    prices = PRICES[settings["ec2_stack_region"]]
    lines = cost_lines(settings)
    tiers = settings["ec2_stack_tiers"]
    # Every tier a line, then the bastion, the NAT gateway, the volumes and the addresses.
    assert [line.count for line in lines[: len(tiers)]] == [tier["count"] for tier in tiers]
    instances = sum(t["count"] * prices["instances"][t["instance_type"]] for t in tiers)
    assert sum(line.hourly for line in lines[: len(tiers)]) == pytest.approx(instances)
    named = by_name(lines[len(tiers) :])
    assert list(named) == [
        "bastion",
        "NAT gateway",
        "gp3 root volumes",
        "public IPv4 addresses",
    ]
    assert named["bastion"].hourly == prices["instances"]["t3.nano"]
    assert named["NAT gateway"].hourly == prices["nat_gateway_hour"]
    # The role's default size (20 GB) for tiers without volume_gb, 40 GB for the databases,
    # and the bastion's.
    assert named["gp3 root volumes"].count == (
        sum(t["count"] * t.get("volume_gb", 20) for t in tiers) + BASTION_VOLUME_GB
    )


def test_only_the_edge_the_bastion_and_the_nat_gateway_pay_for_public_addresses(
    tmp_path: Path,
) -> None:
    """The private tiers have no public address, however many hosts they hold: the
    addresses follow the edge's count alone."""
    settings = stack_settings(REPO / "inventory/ec2/stack.yml")
    tiers = settings["ec2_stack_tiers"]
    assert by_name(cost_lines(settings))["public IPv4 addresses"].count == 1 + 2
    wider = [{**t, "count": 3} if t["name"] in ("varnish", "web") else t for t in tiers]
    stack = tmp_path / "stack.yml"
    stack.write_text(yaml.safe_dump({"ec2_stack_tiers": wider}))
    addresses = by_name(cost_lines(stack_settings(stack)))["public IPv4 addresses"]
    assert addresses.count == 3 + 2
    assert addresses.hourly == pytest.approx(5 * PUBLIC_IPV4_HOURLY)


def test_an_unknown_instance_type_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    tiers = [{"name": "web", "groups": ["web"], "count": 1, "instance_type": "x9.huge"}]
    stack.write_text(yaml.safe_dump({"ec2_stack_tiers": tiers}))
    with pytest.raises(SystemExit, match=r"x9\.huge"):
        cost_lines(stack_settings(stack))


def test_an_unknown_region_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(yaml.safe_dump({"ec2_stack_region": "ap-nowhere-1"}))
    with pytest.raises(SystemExit, match="ap-nowhere-1"):
        cost_lines(stack_settings(stack))


def test_an_unknown_bastion_type_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(yaml.safe_dump({"ec2_stack_bastion_instance_type": "x9.tiny"}))
    with pytest.raises(SystemExit, match=r"x9\.tiny"):
        cost_lines(stack_settings(stack))
