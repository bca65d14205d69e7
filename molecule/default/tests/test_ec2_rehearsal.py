"""The EC2 rehearsal: the stack these tests check was built over the aws_ec2 inventory
(create.yml, converge.yml), each instance in the local AWS emulator played by the lab
container of its name. Here the two inventories are held to describe one stack."""

from __future__ import annotations

import json

from conftest import HOSTS, INVENTORY, list_inventory, run_playbook

# scripts/aws_emulator.sh env, as molecule.yml hands it to the playbooks.
EMULATOR = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_REGION": "eu-west-1",
    # A dead emulator must fail the test, never yield an empty inventory.
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
}
CONTRACT = [
    "varnish", "lb", "web", "pgpool", "pgpool_witness", "cache", "media",
    "db_primary", "db_standby", "postgres", "backup",
]  # fmt: skip


def groups(inventory: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The contract's groups and their hosts, as ansible-inventory lists them."""
    listing = list_inventory(inventory, env)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)

    def hosts(group: str) -> list[str]:
        found = set(data.get(group, {}).get("hosts", []))
        for child in data.get(group, {}).get("children", []):
            found |= set(hosts(child))
        return sorted(found)

    return {group: hosts(group) for group in CONTRACT}


def test_every_ec2_instance_is_a_lab_host_in_the_same_groups() -> None:
    ec2 = groups("inventory/rehearsal", EMULATOR)
    assert ec2 == groups(str(INVENTORY))
    assert sorted({host for members in ec2.values() for host in members}) == sorted(HOSTS)


def test_the_lab_inventory_finds_nothing_to_change() -> None:
    """`make up`'s static inventory and the EC2 one give every host the same settings: site.yml
    over the static one changes nothing on the stack the EC2 inventory built."""
    again = run_playbook("-i", INVENTORY, "playbooks/site.yml")
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    assert sorted(again.recap) == sorted(HOSTS)
