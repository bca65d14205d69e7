#!/usr/bin/env python3
"""The hourly cost of the stack inventory/ec2/stack.yml describes, at AWS on-demand prices.

What provision_ec2.yml creates that AWS bills by the hour: the instances (Linux, on
demand) and the bastion, their gp3 root volumes (billed per GB-month), the NAT gateway
(the private subnets' way out), and the public IPv4 addresses: one per edge host (the
varnish group's, the only tier in the public subnets), the bastion's, and the NAT
gateway's Elastic IP. Not counted: data transfer, the NAT gateway's charge per GB it
carries (package installs, the backups to S3), the S3 bucket's contents, T3 CPU credits
beyond the baseline (T3 instances are "unlimited" by default: a host pinned at 100% CPU
costs up to $0.05 per vCPU-hour more), and tax.

The prices are AWS's list prices as this project recorded them (PRICES_AS_OF), not
fetched: this machine cannot reach AWS. Check them on https://aws.amazon.com/ec2/pricing/
before you rely on the figure, and add a region or an instance type to PRICES as needed.

  python -m harness.ec2_cost                      # inventory/ec2/stack.yml
  python -m harness.ec2_cost --stack my-stack.yml # another shape
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import COLLECTION, REPO

PRICES_AS_OF = "2026-12"
HOURS_PER_MONTH = 730  # AWS's own convention for monthly figures
PUBLIC_IPV4_HOURLY = 0.005  # every region, since February 2024, Elastic IPs included
BASTION_VOLUME_GB = 8  # the role's, _ec2_stack_bastion.volume_gb: the Debian image's size

# Per region: on-demand Linux $/hour per instance type, gp3 $/GB-month, and a NAT
# gateway's $/hour.
PRICES: dict[str, dict[str, Any]] = {
    "eu-west-1": {
        "instances": {
            "t3.nano": 0.0057,
            "t3.micro": 0.0114,
            "t3.small": 0.0228,
            "t3.medium": 0.0456,
            "t3.large": 0.0912,
        },
        "gp3_gb_month": 0.088,
        "nat_gateway_hour": 0.048,
    },
    "us-east-1": {
        "instances": {
            "t3.nano": 0.0052,
            "t3.micro": 0.0104,
            "t3.small": 0.0208,
            "t3.medium": 0.0416,
            "t3.large": 0.0832,
        },
        "gp3_gb_month": 0.08,
        "nat_gateway_hour": 0.045,
    },
}


@dataclass(frozen=True)
class Line:
    what: str
    count: int
    unit: str
    hourly: float


def stack_settings(stack_file: Path) -> dict[str, Any]:
    """The role's defaults with the stack file over them, as the playbooks see them, and
    the role's own list of the edge's groups (_ec2_stack_public_groups)."""
    role = COLLECTION / "roles/ec2_stack"
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
    public_groups = yaml.safe_load((role / "vars/main.yml").read_text())["_ec2_stack_public_groups"]
    return {
        **defaults,
        **(yaml.safe_load(stack_file.read_text()) or {}),
        "_ec2_stack_public_groups": public_groups,
    }


def instance_price(prices: dict[str, Any], instance_type: str, region: str) -> float:
    if instance_type not in prices["instances"]:
        raise SystemExit(f"no price recorded for {instance_type} in {region}: add it to PRICES")
    return float(prices["instances"][instance_type])


def cost_lines(settings: dict[str, Any]) -> list[Line]:
    region = settings["ec2_stack_region"]
    if region not in PRICES:
        raise SystemExit(f"no prices recorded for {region}: add them to PRICES ({__file__})")
    prices = PRICES[region]
    lines: list[Line] = []
    volume_gb = 0
    edge_hosts = 0
    for tier in settings["ec2_stack_tiers"]:
        instance_type = tier["instance_type"]
        hourly = instance_price(prices, instance_type, region)
        label = f"{tier['name']} ({' '.join(tier['groups'])})"
        lines.append(Line(label, tier["count"], instance_type, tier["count"] * hourly))
        volume_gb += tier["count"] * (tier.get("volume_gb") or settings["ec2_stack_volume_gb"])
        if set(tier["groups"]) & set(settings["_ec2_stack_public_groups"]):
            edge_hosts += tier["count"]
    bastion_type = settings["ec2_stack_bastion_instance_type"]
    bastion_hourly = instance_price(prices, bastion_type, region)
    lines.append(Line("bastion", 1, bastion_type, bastion_hourly))
    volume_gb += BASTION_VOLUME_GB
    lines.append(Line("NAT gateway", 1, "gateway", prices["nat_gateway_hour"]))
    gb_hourly = prices["gp3_gb_month"] / HOURS_PER_MONTH
    lines.append(Line("gp3 root volumes", volume_gb, "GB", volume_gb * gb_hourly))
    # The edge's hosts, the bastion and the NAT gateway's Elastic IP: no other host has one.
    addresses = edge_hosts + 2
    lines.append(
        Line("public IPv4 addresses", addresses, "address", addresses * PUBLIC_IPV4_HOURLY)
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", type=Path, default=REPO / "inventory/ec2/stack.yml")
    args = parser.parse_args(argv)
    settings = stack_settings(args.stack)
    lines = cost_lines(settings)
    total = sum(line.hourly for line in lines)
    print(f"{settings['ec2_stack_region']}, on-demand list prices as of {PRICES_AS_OF}:")
    for line in lines:
        print(f"  {line.what:<24} {line.count:>4} {line.unit:<10} ${line.hourly:.4f}/h")
    print(f"  {'total':<40} ${total:.4f}/h  (${total * 24:.2f}/day, "
          f"${total * HOURS_PER_MONTH:.0f}/month of {HOURS_PER_MONTH} h)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
