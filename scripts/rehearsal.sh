#!/usr/bin/env bash
# `make rehearsal`: the path from an EC2 account to a working stack, without AWS
# (docs/ec2.md). The stack is provisioned in the local AWS emulator (moto on 127.0.0.1),
# the lab's containers stand in for the instances the aws_ec2 inventory returns, and
# site.yml runs over that dynamic inventory. Stops at the first failure; `make down`
# removes the containers and stops the emulator.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/phases.sh
eval "$(scripts/aws_emulator.sh env)"
# An instance the emulator cannot list must fail the run, not vanish from the inventory.
export ANSIBLE_INVENTORY_UNPARSED_FAILED=true
inventory=(-i inventory/rehearsal)

run_phase setup bash scripts/setup.sh &&
  run_phase emulator bash scripts/aws_emulator.sh start &&
  run_phase provision ansible-playbook "${inventory[@]}" lab/rehearsal.yml &&
  run_phase site ansible-playbook "${inventory[@]}" playbooks/site.yml &&
  run_phase smoke ansible-playbook "${inventory[@]}" playbooks/smoke.yml
phase_summary || exit 1
echo "The rehearsal is up: the stack the EC2 inventory describes answers on https://www.djangostack.test:8443/"
echo "  (at 127.0.0.1; http://127.0.0.1:8080/ only redirects there):"
echo "  curl --http2 -sI --resolve www.djangostack.test:8443:127.0.0.1 --cacert .secrets/lab/acme/roots.pem https://www.djangostack.test:8443/"
echo "  ansible-inventory -i inventory/rehearsal --graph   (after: eval \"\$(scripts/aws_emulator.sh env)\")"
