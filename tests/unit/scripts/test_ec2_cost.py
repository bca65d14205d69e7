"""harness/ec2_cost.py: the stack file's shape priced line by line, the role's defaults
filling what the file leaves out, and a price it does not know refused, never guessed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.ec2_cost import PRICES, PUBLIC_IPV4_HOURLY, REPO, cost_lines, stack_settings


def test_the_default_stack_is_priced_host_by_host() -> None:
    settings = stack_settings(REPO / "inventory/ec2/stack.yml")
    prices = PRICES[settings["ec2_stack_region"]]
    lines = cost_lines(settings)
    tiers = settings["ec2_stack_tiers"]
    hosts = sum(tier["count"] for tier in tiers)
    # Every tier a line, then the volumes and the addresses.
    assert [line.count for line in lines[:-2]] == [tier["count"] for tier in tiers]
    instances = sum(t["count"] * prices["instances"][t["instance_type"]] for t in tiers)
    assert sum(line.hourly for line in lines[:-2]) == pytest.approx(instances)
    volumes, addresses = lines[-2:]
    # The role's default size (20 GB) for tiers without volume_gb, 40 GB for the databases.
    assert volumes.count == sum(t["count"] * t.get("volume_gb", 20) for t in tiers)
    assert addresses.count == hosts
    assert addresses.hourly == pytest.approx(hosts * PUBLIC_IPV4_HOURLY)


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
