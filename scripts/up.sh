#!/usr/bin/env bash
# `make up`: the machine, the lab, the stack, then a smoke check. Stops at the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/phases.sh

run_phase setup bash scripts/setup.sh &&
  run_phase lab ansible-playbook lab/lab.yml &&
  run_phase site ansible-playbook playbooks/site.yml &&
  run_phase smoke ansible-playbook playbooks/smoke.yml
phase_summary || exit 1
echo "The lab is up: the site answers on https://www.djangostack.test:8443/ (hitch and Varnish,"
echo "  the front door, at 127.0.0.1; http://127.0.0.1:8080/ only redirects there):"
echo "  curl --http2 -sI --resolve www.djangostack.test:8443:127.0.0.1 --cacert .secrets/lab/acme/roots.pem https://www.djangostack.test:8443/"
echo "  http://127.0.0.1:8081/ is nginx without Varnish, http://127.0.0.1:8082/ web1 alone."
