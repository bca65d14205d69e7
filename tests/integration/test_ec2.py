"""EC2 provisioning and the aws_ec2 inventory, against moto's server on 127.0.0.1.

The tests run in file order on one emulator, as an operator would: provision, provision
again (nothing changes), read the inventory, check what was built against the tier
matrix, tear down (twice), and find nothing left but what the stack does not own. The
emulator is started here and stopped at the end; a dead endpoint must fail, never
yield an empty inventory that passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness import REPO
from harness.ansible_cli import PlaybookRun, adhoc, list_inventory, run_playbook

PORT = 5010  # not the rehearsal's 5000: both can run at once
ENDPOINT = f"http://127.0.0.1:{PORT}"
REGION = "eu-west-1"
PROJECT = "djangostack"
OPERATOR_CIDR = "203.0.113.7/32"  # a documentation range: validated, never contacted
EMULATOR_ENV = {
    "AWS_ENDPOINT_URL": ENDPOINT,
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_MAX_ATTEMPTS": "2",
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
}
INVENTORY = "inventory/ec2/aws_ec2.yml"

# What inventory/ec2/stack.yml describes: the workshop's stack, the lab's nine hosts.
GROUPS = {
    "varnish": ["varnish1"],
    "lb": ["lb1"],
    "web": ["web1", "web2"],
    "pgpool": ["web1", "web2"],
    "pgpool_witness": ["witness1"],
    "cache": ["cache1", "cache2"],
    "db_primary": ["db1"],
    "db_standby": ["db2"],
    "postgres": ["db1", "db2"],
}
INSTANCE_TYPES = {
    "varnish1": "t3.small",
    "lb1": "t3.small",
    "web1": "t3.medium",
    "web2": "t3.medium",
    "cache1": "t3.micro",
    "cache2": "t3.micro",
    "witness1": "t3.micro",
    "db1": "t3.medium",
    "db2": "t3.medium",
}
# The tier matrix, stated independently of the role: (tier, protocol, port, source), the
# source being another tier, the world, or the operator's block. Nothing else may get in.
TIERS = ["varnish", "lb", "web", "pgpool", "cache", "watchdog", "postgres"]
SSH = {(tier, "tcp", 22, OPERATOR_CIDR) for tier in TIERS}
INGRESS = SSH | {
    ("varnish", "tcp", 80, "0.0.0.0/0"),
    ("varnish", "tcp", 443, "0.0.0.0/0"),
    ("lb", "tcp", 80, "varnish"),
    ("web", "tcp", 80, "lb"),
    ("pgpool", "tcp", 5432, "web"),
    ("cache", "tcp", 11211, "web"),
    # pgpool's watchdog: the pgpool hosts and the witness, among themselves.
    ("watchdog", "tcp", 9000, "watchdog"),
    ("watchdog", "udp", 9694, "watchdog"),
    # Every watchdog member health-checks the databases.
    ("postgres", "tcp", 5432, "watchdog"),
    ("postgres", "tcp", 5432, "postgres"),
}
HOST_TIERS = {
    "varnish1": {"varnish"},
    "lb1": {"lb"},
    "web1": {"web", "pgpool", "watchdog"},
    "web2": {"web", "pgpool", "watchdog"},
    "cache1": {"cache"},
    "cache2": {"cache"},
    "witness1": {"watchdog"},
    "db1": {"postgres"},
    "db2": {"postgres"},
}
DEBIAN_IMAGE = "debian-12-amd64-20261201-2000"


def client(service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
    )


def tagged(name: str, value: str = PROJECT) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{name}", "Values": [value]}]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    script = str(REPO / "scripts" / "aws_emulator.sh")
    env = {
        **os.environ,
        "AWS_EMULATOR_PORT": str(PORT),
        "AWS_EMULATOR_DIR": str(tmp_path_factory.mktemp("moto")),
    }
    subprocess.run([script, "start"], env=env, check=True)
    try:
        yield
    finally:
        subprocess.run([script, "stop"], env=env, check=False)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The tests' own key, not the operator's .secrets/ec2/.
    return tmp_path_factory.mktemp("secrets") / "ec2" / f"{PROJECT}_ed25519"


@pytest.fixture(scope="module")
def debian_images(emulator: None) -> dict[str, str]:
    """Two images named as Debian names its own: the role must take the newer."""
    ec2 = client("ec2")
    images = {}
    for name in ["debian-12-amd64-20261101-1900", DEBIAN_IMAGE]:
        images[name] = ec2.register_image(
            Name=name,
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        time.sleep(1.1)  # creation dates have a one-second resolution
    return images


@pytest.fixture(scope="module")
def strangers(emulator: None) -> dict[str, str]:
    """Resources the stack does not own, made before it: teardown must leave them."""
    ec2, s3 = client("ec2"), client("s3")
    vpc = ec2.create_vpc(
        CidrBlock="10.99.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Project", "Value": "someone-else"}]}
        ],
    )["Vpc"]["VpcId"]
    s3.create_bucket(
        Bucket="someone-elses-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return {"vpc": vpc, "bucket": "someone-elses-bucket"}


def provision_vars(key_file: Path) -> str:
    return json.dumps(
        {
            "ec2_stack_ssh_cidrs": [OPERATOR_CIDR],
            # The emulator's own account owns the test images (Debian's owns the real ones).
            "ec2_stack_image_owner": "123456789012",
            "ec2_stack_ssh_key_file": str(key_file),
        }
    )


def ec2_playbook(name: str, key_file: Path) -> PlaybookRun:
    return run_playbook(
        "-i",
        "localhost,",
        f"playbooks/{name}.yml",
        "-e",
        provision_vars(key_file),
        env=EMULATOR_ENV,
    )


@pytest.fixture(scope="module")
def provisioned(
    emulator: None, key_file: Path, debian_images: dict[str, str], strangers: dict[str, str]
) -> PlaybookRun:
    return ec2_playbook("provision_ec2", key_file)


def instances() -> dict[str, dict[str, Any]]:
    """The stack's live instances by Name tag."""
    found = {}
    pages = client("ec2").describe_instances(
        Filters=[
            *tagged("Project"),
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    for reservation in pages["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
            found[tags["Name"]] = {**instance, "tags": tags}
    return found


def test_a_dead_endpoint_fails_never_an_empty_inventory(tmp_path: Path) -> None:
    dead = {**EMULATOR_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # discard: nothing listens
    listing = list_inventory(INVENTORY, dead)
    assert listing.returncode != 0, listing.stdout
    assert "aws_ec2" in listing.stderr
    run = run_playbook(
        "-i",
        "localhost,",
        "playbooks/provision_ec2.yml",
        "-e",
        provision_vars(tmp_path / "key"),
        env=dead,
    )
    assert run.returncode != 0


def test_provisioning_builds_every_host(provisioned: PlaybookRun) -> None:
    assert provisioned.returncode == 0
    assert provisioned.recap["localhost"]["changed"] > 0
    assert sorted(instances()) == sorted(INSTANCE_TYPES)


def test_a_second_provisioning_run_changes_nothing(
    provisioned: PlaybookRun, key_file: Path
) -> None:
    again = ec2_playbook("provision_ec2", key_file)
    assert again.returncode == 0
    assert again.changed_hosts() == {}


def test_inventory_groups_are_the_contract(provisioned: PlaybookRun) -> None:
    listing = list_inventory(INVENTORY, EMULATOR_ENV)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    groups = {
        name: sorted(body.get("hosts", []))
        for name, body in data.items()
        if name not in ("_meta", "all")
    }
    # aws_ec2 holds every host the plugin returned; ungrouped stays empty.
    assert groups.pop("aws_ec2") == sorted(INSTANCE_TYPES)
    assert groups.pop("ungrouped", []) == []
    assert groups == GROUPS
    hostvars = data["_meta"]["hostvars"]
    # ansible-inventory marks values that came from AWS as unsafe (never templated).
    assert {host: unsafe(hostvars[host]["ec2_tags"]["Role"]) for host in ["web1", "db2"]} == {
        "web1": "web pgpool",
        "db2": "db_standby",
    }
    # ec2_tags, never the bare `tags` that could shadow a variable.
    assert all("tags" not in hostvars[host] for host in hostvars)


def unsafe(value: Any) -> Any:
    return value["__ansible_unsafe"] if isinstance(value, dict) else value


def resolved(variable: str, *extra: str) -> dict[str, str]:
    """A variable of every inventory host, as a play would see it (nothing connects)."""
    debug = ["-m", "ansible.builtin.debug", "-a", f"var={variable}", *extra]
    results = adhoc("all", INVENTORY, *debug, env=EMULATOR_ENV, check=True)
    return {host: result[variable] for host, result in results.items()}


def test_hosts_are_reached_on_their_private_address_or_where_the_operator_says(
    provisioned: PlaybookRun,
) -> None:
    live = instances()
    assert resolved("ansible_host") == {name: i["PrivateIpAddress"] for name, i in live.items()}
    assert resolved("ansible_host", "-e", "ec2_ssh_address=public") == {
        name: i["PublicIpAddress"] for name, i in live.items()
    }
    through_bastion = resolved("ansible_ssh_common_args", "-e", "ec2_bastion=admin@198.51.100.5")
    assert set(through_bastion.values()) == {"-o ProxyJump=admin@198.51.100.5"}


def test_the_database_nodes_replicate_synchronously(provisioned: PlaybookRun) -> None:
    # An acknowledged commit is on the standby too, so pgpool's automatic failover (on by
    # default) loses none; the pgpool role refuses automatic failover over async backends.
    modes = resolved("postgresql_synchronous_mode")
    assert {host: modes[host] for host in ("db1", "db2")} == {"db1": "sync", "db2": "sync"}


def test_security_groups_follow_the_tier_matrix(provisioned: PlaybookRun) -> None:
    groups = client("ec2").describe_security_groups(Filters=tagged("Project"))["SecurityGroups"]
    tier_of = {
        group["GroupId"]: next(t["Value"] for t in group["Tags"] if t["Key"] == "Tier")
        for group in groups
    }
    assert sorted(tier_of.values()) == sorted(TIERS)
    ingress = set()
    for group in groups:
        tier = tier_of[group["GroupId"]]
        for rule in group["IpPermissions"]:
            assert rule["FromPort"] == rule["ToPort"], rule
            sources = [r["CidrIp"] for r in rule.get("IpRanges", [])]
            sources += [tier_of[pair["GroupId"]] for pair in rule.get("UserIdGroupPairs", [])]
            ingress |= {(tier, rule["IpProtocol"], rule["FromPort"], source) for source in sources}
    assert ingress == INGRESS
    # Each host carries the groups of its tiers, and no other.
    assert {
        name: {tier_of[g["GroupId"]] for g in instance["SecurityGroups"]}
        for name, instance in instances().items()
    } == HOST_TIERS


def test_instances_follow_the_variables_file(
    provisioned: PlaybookRun, debian_images: dict[str, str]
) -> None:
    live = instances()
    assert {name: i["InstanceType"] for name, i in live.items()} == INSTANCE_TYPES
    assert {i["tags"]["Project"] for i in live.values()} == {PROJECT}
    assert {i["KeyName"] for i in live.values()} == {PROJECT}
    assert {i["ImageId"] for i in live.values()} == {debian_images[DEBIAN_IMAGE]}
    assert {i["MetadataOptions"]["HttpTokens"] for i in live.values()} == {"required"}
    # The pairs that must not share a failure: different availability zones.
    zone = {name: i["Placement"]["AvailabilityZone"] for name, i in live.items()}
    assert zone["web1"] != zone["web2"] and zone["db1"] != zone["db2"]


def test_bucket_blocks_public_access(provisioned: PlaybookRun) -> None:
    s3 = client("s3")
    bucket = f"{PROJECT}-123456789012-{REGION}"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert {"Key": "Project", "Value": PROJECT} in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]


def test_the_ssh_key_stays_on_the_controller(provisioned: PlaybookRun, key_file: Path) -> None:
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    [pair] = client("ec2").describe_key_pairs(KeyNames=[PROJECT])["KeyPairs"]
    assert {"Key": "Project", "Value": PROJECT} in pair["Tags"]


def left_behind() -> dict[str, list[str]]:
    """Whatever still carries the stack's Project tag, by kind."""
    ec2, s3 = client("ec2"), client("s3")
    buckets = []
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except s3.exceptions.ClientError:
            tags = []
        if {"Key": "Project", "Value": PROJECT} in tags:
            buckets.append(bucket["Name"])
    return {
        "instances": sorted(instances()),
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged("Project"))["Vpcs"]],
        "subnets": [
            s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged("Project"))["Subnets"]
        ],
        "security_groups": [
            g["GroupId"]
            for g in ec2.describe_security_groups(Filters=tagged("Project"))["SecurityGroups"]
        ],
        "route_tables": [
            r["RouteTableId"]
            for r in ec2.describe_route_tables(Filters=tagged("Project"))["RouteTables"]
        ],
        "internet_gateways": [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways(Filters=tagged("Project"))["InternetGateways"]
        ],
        "key_pairs": [
            k["KeyName"] for k in ec2.describe_key_pairs(Filters=tagged("Project"))["KeyPairs"]
        ],
        "buckets": buckets,
    }


def test_teardown_removes_all_it_made_and_only_that(
    provisioned: PlaybookRun, key_file: Path, strangers: dict[str, str]
) -> None:
    assert all(left_behind().values())  # the check below can see each kind
    teardown = ec2_playbook("teardown_ec2", key_file)
    assert teardown.returncode == 0
    assert left_behind() == {kind: [] for kind in left_behind()}
    again = ec2_playbook("teardown_ec2", key_file)
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    ec2, s3 = client("ec2"), client("s3")
    assert ec2.describe_vpcs(VpcIds=[strangers["vpc"]])["Vpcs"]
    assert strangers["bucket"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
