"""EC2 provisioning and the aws_ec2 inventory, against moto's server on 127.0.0.1.

The tests run in file order on one emulator, as an operator would: provision, provision
again (nothing changes), read the inventory, check what was built against the network
(only the edge and the bastion public, the rest behind the NAT gateway), the tier matrix,
the backup and web hosts' IAM roles and the bucket, uploads through the web hosts' role
into the media prefix, tear down (twice) and find the data kept, then
tear down naming the data and find nothing left but what the stack does not own. The
emulator (scripts/aws_emulator.sh: moto with harness/aws_emulator.py's fixes) is started
here and stopped at the end; a dead endpoint must fail, never yield an empty inventory
that passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

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
BUCKET = f"{PROJECT}-123456789012-{REGION}"  # <project>-<account id>-<region>, moto's account
BACKUP_ROLE = f"{PROJECT}-backup"
WEB_ROLE = f"{PROJECT}-web"
# The repository's prefix in the bucket: the IAM policy's, and pgBackRest's repo1-path.
REPOSITORY = "pgbackrest"
# The uploads' prefix: the web role's, django-storages' location, the load balancers' origin.
MEDIA = "media"
SITE = "www.example.com"  # stack_site_names, as the operator sets it

# What inventory/ec2/stack.yml describes: the workshop's stack, the lab's ten hosts.
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
    "backup": ["backup1"],
}
DATABASES = {"db1", "db2"}
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
    "backup1": "t3.small",
}
# The network, stated independently of the role: per zone a public subnet (the edge, the
# bastion, the NAT gateway) and a private one (everything else, out through the NAT).
PUBLIC_SUBNETS = {"10.42.1.0/24": "a", "10.42.2.0/24": "b"}
PRIVATE_SUBNETS = {"10.42.11.0/24": "a", "10.42.12.0/24": "b"}
# The bastion: an instance of the project, but no host of the inventory.
BASTION = "bastion"
BASTION_TYPE = "t3.nano"
# Only these have a public address: the front door, and the one way in for SSH.
PUBLIC_HOSTS = {"varnish1", BASTION}
# The tier matrix, stated independently of the role: (tier, protocol, port, source), the
# source being another tier, the world, or the operator's block. Nothing else may get in.
TIERS = ["bastion", "varnish", "lb", "web", "pgpool", "cache", "watchdog", "postgres", "backup"]
# SSH: the operator's block reaches the bastion, and only the bastion reaches the others.
SSH = {("bastion", "tcp", 22, OPERATOR_CIDR)} | {
    (tier, "tcp", 22, "bastion") for tier in TIERS if tier != "bastion"
}
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
    # pgBackRest's TLS server, both ways: backups from the repository host, WAL to it.
    ("postgres", "tcp", 8432, "backup"),
    ("backup", "tcp", 8432, "postgres"),
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
    "backup1": {"backup"},
    BASTION: {"bastion"},
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
    # A NAT gateway and its address: teardown finds the stack's by tag, and only those.
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnet,
        AllocationId=address,
        TagSpecifications=[
            {"ResourceType": "natgateway", "Tags": [{"Key": "Project", "Value": "someone-else"}]}
        ],
    )["NatGateway"]["NatGatewayId"]
    return {"vpc": vpc, "bucket": "someone-elses-bucket", "nat": nat, "address": address}


def strangers_are_untouched(strangers: dict[str, str]) -> None:
    ec2, s3 = client("ec2"), client("s3")
    assert ec2.describe_vpcs(VpcIds=[strangers["vpc"]])["Vpcs"]
    assert strangers["bucket"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    [nat] = ec2.describe_nat_gateways(NatGatewayIds=[strangers["nat"]])["NatGateways"]
    assert nat["State"] == "available"
    assert ec2.describe_addresses(AllocationIds=[strangers["address"]])["Addresses"]


def provision_vars(key_file: Path, **extra: Any) -> str:
    return json.dumps(
        {
            "ec2_stack_ssh_cidrs": [OPERATOR_CIDR],
            # The emulator's own account owns the test images (Debian's owns the real ones).
            "ec2_stack_image_owner": "123456789012",
            "ec2_stack_ssh_key_file": str(key_file),
            # The tests' own, not the checkout's inventory/ec2/group_vars/all/bastion.yml.
            "ec2_stack_bastion_file": str(bastion_file(key_file)),
            **extra,
        }
    )


def bastion_file(key_file: Path) -> Path:
    return key_file.parent.parent / "inventory" / "bastion.yml"


def ec2_playbook(name: str, key_file: Path, **extra: Any) -> PlaybookRun:
    return run_playbook(
        "-i",
        "localhost,",
        f"playbooks/{name}.yml",
        "-e",
        provision_vars(key_file, **extra),
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


def test_a_bucket_in_another_region_is_refused_before_anything_is_built(
    emulator: None, key_file: Path, strangers: dict[str, str]
) -> None:
    # The account already owns a bucket of that name, in us-east-1 (no location constraint).
    elsewhere = f"{PROJECT}-made-in-us-east-1"
    boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
    ).create_bucket(Bucket=elsewhere)
    run = ec2_playbook("provision_ec2", key_file, ec2_stack_bucket_name=elsewhere)
    assert run.returncode != 0
    assert (
        f"The bucket {elsewhere} already exists in us-east-1, not in ec2_stack_region ({REGION}):"
        " set ec2_stack_bucket_name to another name" in " ".join(run.output.split())
    )
    assert left_behind() == {kind: [] for kind in left_behind()}


def test_provisioning_builds_every_host(provisioned: PlaybookRun) -> None:
    assert provisioned.returncode == 0
    assert provisioned.recap["localhost"]["changed"] > 0
    assert sorted(instances()) == sorted([*INSTANCE_TYPES, BASTION])


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
    # aws_ec2 holds every host the plugin returned, the bastion excluded (the rehearsal holds
    # them to the lab's containers); ungrouped stays empty.
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


def resolved(variable: str, *extra: str, hosts: str = "all") -> dict[str, str]:
    """A variable of every inventory host (or of `hosts`), as a play would see it (nothing
    connects)."""
    debug = ["-m", "ansible.builtin.debug", "-a", f"var={variable}", *extra]
    results = adhoc(hosts, INVENTORY, *debug, env=EMULATOR_ENV, check=True)
    return {host: result[variable] for host, result in results.items()}


def proxy_command(bastion: str) -> str:
    key = REPO / "inventory/ec2/../../.secrets/ec2/djangostack_ed25519"
    return (
        f'-o ProxyCommand="ssh -W %h:%p -q -i {key} -o StrictHostKeyChecking=accept-new {bastion}"'
    )


def test_hosts_are_reached_on_their_private_address_through_the_bastion(
    provisioned: PlaybookRun, key_file: Path
) -> None:
    live = instances()
    # Explicit values throughout: a rehearsal may have left the checkout's own bastion.yml.
    assert resolved("ansible_host", "-e", "ec2_bastion=") == {
        name: i["PrivateIpAddress"] for name, i in live.items() if name != BASTION
    }
    # Provisioning wrote the bastion's address where the inventory reads it.
    written = yaml.safe_load(bastion_file(key_file).read_text())
    assert written == {
        "ec2_bastion": f"admin@{live[BASTION]['PublicIpAddress']}",
        "ec2_bastion_private_address": live[BASTION]["PrivateIpAddress"],
    }
    # Every host's firewall admits SSH from the bastion alone.
    admitted = resolved("firewall_ssh_sources", "-e", f"@{bastion_file(key_file)}")
    assert set(map(tuple, admitted.values())) == {(f"{live[BASTION]['PrivateIpAddress']}/32",)}
    through_bastion = resolved("ansible_ssh_common_args", "-e", f"@{bastion_file(key_file)}")
    assert set(through_bastion.values()) == {proxy_command(written["ec2_bastion"])}
    # The controller inside the VPC: no jump.
    assert set(resolved("ansible_ssh_common_args", "-e", "ec2_bastion=").values()) == {""}


def test_only_the_edge_and_the_bastion_are_in_public_subnets(provisioned: PlaybookRun) -> None:
    ec2 = client("ec2")
    subnets = ec2.describe_subnets(Filters=tagged("Project"))["Subnets"]
    assert {s["CidrBlock"]: (s["AvailabilityZone"], s["MapPublicIpOnLaunch"]) for s in subnets} == {
        **{cidr: (f"{REGION}{zone}", True) for cidr, zone in PUBLIC_SUBNETS.items()},
        **{cidr: (f"{REGION}{zone}", False) for cidr, zone in PRIVATE_SUBNETS.items()},
    }
    cidr_of = {s["SubnetId"]: s["CidrBlock"] for s in subnets}
    live = instances()
    assert {name for name, i in live.items() if cidr_of[i["SubnetId"]] in PUBLIC_SUBNETS} == (
        PUBLIC_HOSTS
    )
    # Only the edge and the bastion have a public address.
    assert {name for name, i in live.items() if i.get("PublicIpAddress")} == PUBLIC_HOSTS


def test_public_subnets_route_to_the_internet_gateway_private_ones_to_the_nat(
    provisioned: PlaybookRun,
) -> None:
    ec2 = client("ec2")
    cidr_of = {
        s["SubnetId"]: s["CidrBlock"]
        for s in ec2.describe_subnets(Filters=tagged("Project"))["Subnets"]
    }
    [igw] = ec2.describe_internet_gateways(Filters=tagged("Project"))["InternetGateways"]
    [nat] = ec2.describe_nat_gateways(
        Filter=[*tagged("Project"), {"Name": "state", "Values": ["available"]}]
    )["NatGateways"]
    # The NAT gateway sits in a public subnet, on an Elastic IP of the stack's own.
    assert cidr_of[nat["SubnetId"]] in PUBLIC_SUBNETS
    [address] = nat["NatGatewayAddresses"]
    [eip] = ec2.describe_addresses(AllocationIds=[address["AllocationId"]])["Addresses"]
    assert {"Key": "Project", "Value": PROJECT} in eip["Tags"]
    routes = {}
    for table in ec2.describe_route_tables(Filters=tagged("Project"))["RouteTables"]:
        [default] = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        way_out = default.get("NatGatewayId") or default.get("GatewayId")
        for association in table["Associations"]:
            if association.get("SubnetId"):
                routes[cidr_of[association["SubnetId"]]] = way_out
    assert routes == {
        **{cidr: igw["InternetGatewayId"] for cidr in PUBLIC_SUBNETS},
        **{cidr: nat["NatGatewayId"] for cidr in PRIVATE_SUBNETS},
    }


def test_the_bastion_is_no_host_of_the_inventory(provisioned: PlaybookRun) -> None:
    bastion = instances()[BASTION]
    assert bastion["InstanceType"] == BASTION_TYPE
    assert bastion["tags"]["Role"] == "bastion"
    listing = list_inventory(INVENTORY, EMULATOR_ENV)
    assert listing.returncode == 0, listing.stderr
    assert BASTION not in json.loads(listing.stdout)["_meta"]["hostvars"]


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
    assert {name: i["InstanceType"] for name, i in live.items()} == {
        **INSTANCE_TYPES,
        BASTION: BASTION_TYPE,
    }
    assert {i["tags"]["Project"] for i in live.values()} == {PROJECT}
    assert {i["KeyName"] for i in live.values()} == {PROJECT}
    assert {i["ImageId"] for i in live.values()} == {debian_images[DEBIAN_IMAGE]}
    assert {i["MetadataOptions"]["HttpTokens"] for i in live.values()} == {"required"}
    # The pairs that must not share a failure: different availability zones.
    zone = {name: i["Placement"]["AvailabilityZone"] for name, i in live.items()}
    assert zone["web1"] != zone["web2"] and zone["db1"] != zone["db2"]


def test_bucket_blocks_public_access(provisioned: PlaybookRun) -> None:
    s3 = client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert {"Key": "Project", "Value": PROJECT} in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]


def s3_endpoint() -> dict[str, Any]:
    [endpoint] = client("ec2").describe_vpc_endpoints(
        Filters=[*tagged("Project"), {"Name": "vpc-endpoint-state", "Values": ["available"]}]
    )["VpcEndpoints"]
    return endpoint


def test_bucket_is_versioned_denies_plain_http_and_admits_readers_of_media_from_the_vpc_alone(
    provisioned: PlaybookRun,
) -> None:
    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    from_the_vpc = {"aws:SourceVpce": s3_endpoint()["VpcEndpointId"]}
    assert [
        {key: statement[key] for key in ("Effect", "Principal", "Action", "Resource", "Condition")}
        for statement in policy["Statement"]
    ] == [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        # The load balancers read uploads with no credentials, through the endpoint only;
        # listing the prefix makes a missing file a 404 rather than a 403.
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/{MEDIA}/*",
            "Condition": {"StringEquals": from_the_vpc},
        },
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {
                "StringEquals": from_the_vpc,
                "StringLike": {"s3:prefix": [f"{MEDIA}/*"]},
            },
        },
    ]


def test_both_kinds_of_subnet_reach_s3_through_the_gateway_endpoint(
    provisioned: PlaybookRun,
) -> None:
    endpoint = s3_endpoint()
    assert (endpoint["ServiceName"], endpoint["VpcEndpointType"]) == (
        f"com.amazonaws.{REGION}.s3",
        "Gateway",
    )
    [vpc] = client("ec2").describe_vpcs(Filters=tagged("Project"))["Vpcs"]
    assert endpoint["VpcId"] == vpc["VpcId"]
    tables = client("ec2").describe_route_tables(Filters=tagged("Project"))["RouteTables"]
    assert sorted(endpoint["RouteTableIds"]) == sorted(t["RouteTableId"] for t in tables)
    assert len(tables) == 2  # the public subnets' and the private ones'


def test_only_the_backup_and_web_hosts_carry_instance_profiles(provisioned: PlaybookRun) -> None:
    live = instances()
    profiles = {
        name: i["IamInstanceProfile"]["Arn"]
        for name, i in live.items()
        if "IamInstanceProfile" in i
    }
    arn = "arn:aws:iam::123456789012:instance-profile/{}/{}".format
    assert profiles == {
        "backup1": arn(PROJECT, BACKUP_ROLE),
        "web1": arn(PROJECT, WEB_ROLE),
        "web2": arn(PROJECT, WEB_ROLE),
    }
    iam = client("iam")
    for role in [BACKUP_ROLE, WEB_ROLE]:
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        assert [r["RoleName"] for r in profile["Roles"]] == [role]
        # Only EC2 may assume the role.
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        assert [(s["Effect"], s["Principal"], s["Action"]) for s in trust["Statement"]] == [
            ("Allow", {"Service": "ec2.amazonaws.com"}, "sts:AssumeRole")
        ]


def as_list(value: str | list[str]) -> list[str]:
    return sorted([value] if isinstance(value, str) else value)


@pytest.mark.parametrize(("role", "prefix"), [(BACKUP_ROLE, REPOSITORY), (WEB_ROLE, MEDIA)])
def test_each_role_may_use_its_prefix_and_nothing_else(
    provisioned: PlaybookRun, role: str, prefix: str
) -> None:
    iam = client("iam")
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    grants = sorted(
        (
            statement["Effect"],
            as_list(statement["Action"]),
            as_list(statement["Resource"]),
            statement.get("Condition"),
        )
        for statement in document["Statement"]
    )
    assert grants == [
        (
            "Allow",
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [f"arn:aws:s3:::{BUCKET}/{prefix}/*"],
            None,
        ),
        (
            "Allow",
            ["s3:ListBucket"],
            [f"arn:aws:s3:::{BUCKET}"],
            {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
        ),
    ]


def test_the_databases_are_protected_and_their_volumes_outlive_them(
    provisioned: PlaybookRun,
) -> None:
    ec2 = client("ec2")
    live = instances()
    protected = {
        name: ec2.describe_instance_attribute(
            InstanceId=instance["InstanceId"], Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"]
        for name, instance in live.items()
    }
    assert {name for name, on in protected.items() if on} == DATABASES
    deleted_with_instance = {
        name: {m["Ebs"]["DeleteOnTermination"] for m in instance["BlockDeviceMappings"]}
        for name, instance in live.items()
    }
    assert deleted_with_instance == {name: {name not in DATABASES} for name in live}


def test_the_backup_host_keeps_its_repository_in_the_bucket(provisioned: PlaybookRun) -> None:
    """inventory/ec2/group_vars: the pgbackrest role's settings, as the backup host sees them."""
    repository = {
        variable: resolved(variable, hosts="backup")["backup1"]
        for variable in [
            "pgbackrest_repo_type",
            "pgbackrest_repo_s3_bucket",
            "pgbackrest_repo_s3_region",
            "pgbackrest_repo_path",
        ]
    }
    assert repository == {
        "pgbackrest_repo_type": "s3",
        "pgbackrest_repo_s3_bucket": BUCKET,
        "pgbackrest_repo_s3_region": REGION,
        "pgbackrest_repo_path": f"/{REPOSITORY}",
    }
    # The name each host's TLS certificate carries and its peers connect to.
    assert resolved("pgbackrest_host_name") == {
        name: i["PrivateDnsName"] for name, i in instances().items() if name != BASTION
    }


def test_the_web_hosts_keep_uploads_in_the_bucket_and_the_load_balancers_read_them_there(
    provisioned: PlaybookRun,
) -> None:
    """inventory/ec2/group_vars: STORAGES["default"] as the web hosts see it, and /media/'s
    origin as the load balancers do."""
    site = ["-e", json.dumps({"stack_site_names": [SITE]})]
    storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "location": MEDIA,
            "region_name": REGION,
            "file_overwrite": False,
            "custom_domain": SITE,
            "querystring_auth": False,
        },
    }
    # No key in the settings: the instance profile's credentials, from the instance metadata.
    assert resolved("django_app_media_storage", *site, hosts="web") == {
        "web1": storage,
        "web2": storage,
    }
    assert resolved("nginx_lb_media_origin", *site, hosts="lb") == {
        "lb1": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{MEDIA}"
    }
    assert resolved("nginx_lb_media_resolvers", hosts="lb") == {"lb1": ["169.254.169.253"]}
    assert resolved("nginx_lb_media_url", hosts="lb") == {"lb1": f"/{MEDIA}/"}


# What a web host's app does with an upload: Django's default storage, as the deploy sets
# DJANGO_MEDIA_STORAGE, saving the same name twice, then reading both back. The endpoint
# is the emulator's, given as boto3 takes it from the environment (AWS_ENDPOINT_URL).
UPLOADS = """
import json, sys
from django.conf import settings
settings.configure(STORAGES={"default": json.loads(sys.argv[1])})
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
names = [default_storage.save("logos/team.png", ContentFile(body)) for body in (b"1st", b"2nd")]
print(json.dumps({
    "names": names,
    "bodies": [default_storage.open(name).read().decode() for name in names],
    "urls": [default_storage.url(name) for name in names],
}))
"""


def test_uploads_through_the_web_role_land_in_the_media_prefix_and_never_overwrite(
    provisioned: PlaybookRun,
) -> None:
    [storage] = {
        json.dumps(value)
        for value in resolved(
            "django_app_media_storage", "-e", json.dumps({"stack_site_names": [SITE]}), hosts="web"
        ).values()
    }
    # The credentials a web instance gets from its instance metadata: the web role's, as
    # EC2 assumes it for the instance profile.
    role = client("iam").get_role(RoleName=WEB_ROLE)["Role"]["Arn"]
    credentials = client("sts").assume_role(RoleArn=role, RoleSessionName="web1")["Credentials"]
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": ENDPOINT,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    # moto applies a bucket policy's statements without their conditions: DenyPlainHTTP
    # would deny every request, over any transport. The policy is lifted for the uploads,
    # then put back (its content is the bucket test's) once they are removed again, every
    # version: the teardown tests find the bucket as provisioning left it.
    s3 = client("s3")
    policy = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    s3.delete_bucket_policy(Bucket=BUCKET)
    try:
        run = subprocess.run(
            [sys.executable, "-c", UPLOADS, storage], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{MEDIA}/").get("Contents", [])
    finally:
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix=f"{MEDIA}/")
        for version in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
        s3.put_bucket_policy(Bucket=BUCKET, Policy=policy)
    made = json.loads(run.stdout)
    first, second = made["names"]
    assert first == "logos/team.png" and second != first and second.startswith("logos/team_")
    assert made["bodies"] == ["1st", "2nd"]
    assert made["urls"] == [f"https://{SITE}/{MEDIA}/{name}" for name in made["names"]]
    # In the bucket, under the media prefix: the keys the load balancers' origin serves.
    assert sorted(o["Key"] for o in listed) == sorted(f"{MEDIA}/{name}" for name in made["names"])


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
    iam = client("iam")
    return {
        "instances": sorted(instances()),
        "volumes": sorted(
            v["VolumeId"] for v in ec2.describe_volumes(Filters=tagged("Project"))["Volumes"]
        ),
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
        # A deleted NAT gateway stays listed a while, as deleted.
        "nat_gateways": [
            g["NatGatewayId"]
            for g in ec2.describe_nat_gateways(
                Filter=[*tagged("Project"), {"Name": "state", "Values": ["pending", "available"]}]
            )["NatGateways"]
        ],
        # A deleted endpoint stays listed a while, as deleted.
        "vpc_endpoints": [
            e["VpcEndpointId"]
            for e in ec2.describe_vpc_endpoints(
                Filters=[
                    *tagged("Project"),
                    {"Name": "vpc-endpoint-state", "Values": ["pending", "available"]},
                ]
            )["VpcEndpoints"]
        ],
        "elastic_ips": [
            a["PublicIp"] for a in ec2.describe_addresses(Filters=tagged("Project"))["Addresses"]
        ],
        "key_pairs": [
            k["KeyName"] for k in ec2.describe_key_pairs(Filters=tagged("Project"))["KeyPairs"]
        ],
        "buckets": buckets,
        # IAM lists nothing by tag: the stack's roles and profiles are under its own path.
        "iam_roles": [r["RoleName"] for r in iam.list_roles(PathPrefix=f"/{PROJECT}/")["Roles"]],
        "iam_instance_profiles": [
            p["InstanceProfileName"]
            for p in iam.list_instance_profiles(PathPrefix=f"/{PROJECT}/")["InstanceProfiles"]
        ],
    }


def volume_of(host: str) -> str:
    [volume] = client("ec2").describe_volumes(Filters=[*tagged("Project"), *tagged("Name", host)])[
        "Volumes"
    ]
    return volume["VolumeId"]


def plan(run: PlaybookRun) -> str:
    """The teardown's plan, as printed, its lines unwrapped."""
    start = run.output.index("TASK [djangostack.deploy.ec2_stack : Show what teardown removes")
    end = run.output.index("TASK [", start + 1)
    return " ".join(run.output[start:end].split())


def test_teardown_prints_its_plan_then_removes_all_but_the_data(
    provisioned: PlaybookRun, key_file: Path, strangers: dict[str, str]
) -> None:
    before = left_behind()
    assert all(before.values())  # the checks below can see each kind
    live = instances()
    data = sorted(volume_of(host) for host in DATABASES)
    teardown = ec2_playbook("teardown_ec2", key_file)
    assert teardown.returncode == 0
    # The plan comes before any removal, and names all that goes and all that stays.
    assert teardown.output.index("Show what teardown removes") < teardown.output.index(
        "Terminate the stack's instances"
    )
    said = plan(teardown)
    for name, instance in live.items():
        assert f"remove instance {name} {instance['InstanceId']}" in said
    assert f"remove instance {BASTION} {live[BASTION]['InstanceId']} (the bastion)" in said
    for nat in before["nat_gateways"]:
        assert f"remove NAT gateway {nat}" in said
    for address in before["elastic_ips"]:
        assert f"release Elastic IP {address}" in said
    for group in before["security_groups"]:
        assert group in said
    for volume in set(before["volumes"]) - set(data):
        assert f"remove volume {volume}" in said
    for volume in data:
        assert f"KEEP volume {volume}" in said
    assert f"KEEP bucket {BUCKET}" in said
    for role in [BACKUP_ROLE, WEB_ROLE]:
        assert f"remove IAM instance profile /{PROJECT}/{role}" in said
        assert f"remove IAM role /{PROJECT}/{role}" in said
    assert f"remove VPC endpoint {before['vpc_endpoints'][0]} (com.amazonaws.{REGION}.s3)" in said
    # The data stays; everything else the stack made is gone.
    assert left_behind() == {
        **{kind: [] for kind in before},
        "volumes": data,
        "buckets": [BUCKET],
    }
    again = ec2_playbook("teardown_ec2", key_file)
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    strangers_are_untouched(strangers)


def test_a_name_that_is_none_of_the_stacks_data_is_refused(key_file: Path) -> None:
    before = left_behind()
    run = ec2_playbook("teardown_ec2", key_file, ec2_stack_delete_data=[BUCKET, "db3"])
    assert run.returncode != 0
    assert "ec2_stack_delete_data names db3: each entry must be" in " ".join(run.output.split())
    assert left_behind() == before


def test_teardown_deletes_the_data_it_is_told_to(key_file: Path, strangers: dict[str, str]) -> None:
    # The bucket by its name, one volume by its host's name, the other by its id.
    named = [BUCKET, "db1", volume_of("db2")]
    teardown = ec2_playbook("teardown_ec2", key_file, ec2_stack_delete_data=named)
    assert teardown.returncode == 0
    said = plan(teardown)
    assert f"remove bucket {BUCKET}" in said
    assert "KEEP" not in said
    assert left_behind() == {kind: [] for kind in left_behind()}
    again = ec2_playbook("teardown_ec2", key_file, ec2_stack_delete_data=named)
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    strangers_are_untouched(strangers)
