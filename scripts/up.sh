#!/usr/bin/env bash
# `make up`: the machine, the lab, the stack, then a smoke check. Stops at the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/phases.sh

run_phase setup bash scripts/setup.sh &&
  run_phase lab ansible-playbook playbooks/lab.yml &&
  run_phase site ansible-playbook playbooks/site.yml &&
  run_phase smoke ansible-playbook playbooks/smoke.yml
phase_summary || exit 1
echo "The lab is up: web1 serves the app on http://127.0.0.1:8082/; the front door (8080) answers once the edge tier lands."
