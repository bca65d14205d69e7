#!/usr/bin/env python3
"""The hourly cost of the stack inventory/ec2/stack.yml describes, at AWS on-demand prices.

What provision_ec2.yml creates that AWS bills by the hour: the instances (Linux, on
demand), their gp3 root volumes (billed per GB-month), and one public IPv4 address per
instance (the subnets map public addresses: there is no NAT gateway). Not counted: data
transfer, the S3 bucket's contents, T3 CPU credits beyond the baseline (T3 instances
are "unlimited" by default: a host pinned at 100% CPU costs up to $0.05 per vCPU-hour
more), and tax.

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
PUBLIC_IPV4_HOURLY = 0.005  # every region, since February 2024

# Per region: on-demand Linux $/hour per instance type, and gp3 $/GB-month.
PRICES: dict[str, dict[str, Any]] = {
    "eu-west-1": {
        "instances": {
            "t3.micro": 0.0114,
            "t3.small": 0.0228,
            "t3.medium": 0.0456,
            "t3.large": 0.0912,
        },
        "gp3_gb_month": 0.088,
    },
    "us-east-1": {
        "instances": {
            "t3.micro": 0.0104,
            "t3.small": 0.0208,
            "t3.medium": 0.0416,
            "t3.large": 0.0832,
        },
        "gp3_gb_month": 0.08,
    },
}


@dataclass(frozen=True)
class Line:
    what: str
    count: int
    unit: str
    hourly: float


def stack_settings(stack_file: Path) -> dict[str, Any]:
    """The role's defaults with the stack file over them, as the playbooks see them."""
    defaults = yaml.safe_load((COLLECTION / "roles/ec2_stack/defaults/main.yml").read_text())
    return {**defaults, **(yaml.safe_load(stack_file.read_text()) or {})}


def cost_lines(settings: dict[str, Any]) -> list[Line]:
    region = settings["ec2_stack_region"]
    if region not in PRICES:
        raise SystemExit(f"no prices recorded for {region}: add them to PRICES ({__file__})")
    prices = PRICES[region]
    lines: list[Line] = []
    volume_gb = 0
    hosts = 0
    for tier in settings["ec2_stack_tiers"]:
        instance_type = tier["instance_type"]
        if instance_type not in prices["instances"]:
            raise SystemExit(f"no price recorded for {instance_type} in {region}: add it to PRICES")
        hourly = prices["instances"][instance_type]
        label = f"{tier['name']} ({' '.join(tier['groups'])})"
        lines.append(Line(label, tier["count"], instance_type, tier["count"] * hourly))
        volume_gb += tier["count"] * (tier.get("volume_gb") or settings["ec2_stack_volume_gb"])
        hosts += tier["count"]
    gb_hourly = prices["gp3_gb_month"] / HOURS_PER_MONTH
    lines.append(Line("gp3 root volumes", volume_gb, "GB", volume_gb * gb_hourly))
    lines.append(Line("public IPv4 addresses", hosts, "address", hosts * PUBLIC_IPV4_HOURLY))
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
