"""moto's server, with what it leaves out of the AWS API that the stack relies on put back.

scripts/aws_emulator.sh runs it (`python -m harness.aws_emulator -H 127.0.0.1 -p 5000`,
moto_server's own arguments). Each fix makes moto answer as AWS does, and no more:

- RunInstances' DisableApiTermination: moto ignores it, so an instance launched with
  termination protection has none (ModifyInstanceAttribute sets it, and TerminateInstances
  then refuses, as AWS does). The database instances are launched protected; without this
  fix a second provisioning run would find the protection off and turn it on again.
- DescribeVolumes' SnapshotId: AWS answers "" for a volume made from no snapshot, moto
  leaves the field out, and amazon.aws.ec2_vol_info (teardown lists the stack's volumes)
  fails on the missing key.
- DescribeVolumes' Attachments[].DeleteOnTermination: moto leaves it out (it keeps it on
  the instance's block device mapping); teardown reads it to tell the volumes that go with
  their instance from the databases', which it keeps.
- DescribeTags' resource type of a NAT gateway: AWS says "natgateway", moto
  "nat-gateway". amazon.aws.ec2_vpc_nat_gateway reads a gateway's tags by the former, found
  none, and tagged it again on every run: a second provisioning run was not changed=0.
- DescribeNatGateways' tag filters: moto ignores them and lists every NAT gateway of the
  region; teardown finds the stack's by its Project tag, and must leave another's alone.
- DeleteNatGateway: moto marks the gateway deleted but keeps its Elastic IP associated and
  its network interface in the subnet. AWS frees both, and teardown then releases the
  address and deletes the subnet.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.ec2.models.elastic_block_store import Volume, VolumeAttachment
from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, is_tag_filter, tag_filter_matches
from moto.server import main as moto_server


def _protected_run_instances(original: Any) -> Any:
    def run_instances(self: InstanceResponse) -> Any:
        result = original(self)
        if str(self._get_param("DisableApiTermination")).lower() == "true":
            # The reservation the original just made (ActionResult(reservation)).
            for instance in result.result.instances:
                instance.disable_api_termination = True
        return result

    return run_instances


def _volume_with_snapshot_field(original: Any) -> Any:
    def __init__(self: Volume, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.snapshot_id is None:
            self.snapshot_id = ""

    return __init__


def _attachment_delete_on_termination(self: VolumeAttachment) -> bool:
    device = self.instance.block_device_mapping.get(self.device)
    return bool(device is not None and device.delete_on_termination)


def _nat_gateways_by_tag(original: Any) -> Any:
    def describe_nat_gateways(
        self: NatGatewayBackend, filters: Any, nat_gateway_ids: list[str] | None
    ) -> list[NatGateway]:
        found = original(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if is_tag_filter(name):
                found = [gateway for gateway in found if tag_filter_matches(gateway, name, values)]
        return found

    return describe_nat_gateways


def _nat_gateway_deletion_frees_its_address(original: Any) -> Any:
    def delete_nat_gateway(self: Any, nat_gateway_id: str) -> NatGateway:
        gateway = self.nat_gateways.get(nat_gateway_id)
        live = gateway is not None and gateway.state != "deleted"
        result = original(self, nat_gateway_id)
        if live:
            associations = {address.get("associationId") for address in gateway.address_set}
            for eip in self.addresses:
                if eip.association_id and eip.association_id in associations:
                    self.disassociate_address(association_id=eip.association_id)
            self.enis.pop(gateway._eni.id, None)
        return result

    return delete_nat_gateway


def patch_moto() -> None:
    EC2_PREFIX_TO_RESOURCE["nat"] = "natgateway"
    InstanceResponse.run_instances = _protected_run_instances(InstanceResponse.run_instances)  # type: ignore[method-assign]
    Volume.__init__ = _volume_with_snapshot_field(Volume.__init__)  # type: ignore[method-assign]
    VolumeAttachment.delete_on_termination = property(_attachment_delete_on_termination)  # type: ignore[attr-defined]
    NatGatewayBackend.describe_nat_gateways = _nat_gateways_by_tag(  # type: ignore[method-assign]
        NatGatewayBackend.describe_nat_gateways
    )
    NatGatewayBackend.delete_nat_gateway = _nat_gateway_deletion_frees_its_address(  # type: ignore[method-assign]
        NatGatewayBackend.delete_nat_gateway
    )


def main(argv: list[str] | None = None) -> None:
    patch_moto()
    moto_server(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
