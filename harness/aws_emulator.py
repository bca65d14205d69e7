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
"""

from __future__ import annotations

import sys
from typing import Any

from moto.ec2.models.elastic_block_store import Volume, VolumeAttachment
from moto.ec2.responses.instances import InstanceResponse
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


def patch_moto() -> None:
    InstanceResponse.run_instances = _protected_run_instances(InstanceResponse.run_instances)  # type: ignore[method-assign]
    Volume.__init__ = _volume_with_snapshot_field(Volume.__init__)  # type: ignore[method-assign]
    VolumeAttachment.delete_on_termination = property(_attachment_delete_on_termination)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    patch_moto()
    moto_server(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
