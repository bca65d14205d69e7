#!/usr/bin/env bash
# Promotion drill on the pg_standby Molecule scenario, three times: converge a primary and a
# synchronous standby, stop the primary, promote the standby with
# djangostack.deploy.pg_promote, and print the module's own timing (request to first write)
# and the wall time of the whole Ansible call. Traffic stays inside the scenario's containers.
#   usage: docs/drills/promote_standby.sh    (from a checkout, after make setup)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export LANG=C.UTF-8 PATH="$root/.venv/bin:$PATH" PY_COLORS=0 NO_COLOR=1
export ANSIBLE_COLLECTIONS_PATH="$root/collections"
cd "$root/roles/pg_standby"
trap 'molecule destroy >/dev/null 2>&1' EXIT
for run in 1 2 3; do
  molecule destroy >/dev/null 2>&1
  molecule converge >/dev/null 2>&1
  inventory=$(dirname "$(grep -l pgstandby-standby "$HOME"/.ansible/tmp/molecule.*/inventory/ansible_inventory.yml | head -1)")
  docker exec pgstandby-primary systemctl stop postgresql@15-main
  start=$(date +%s%N)
  result=$(ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ANSIBLE_LOAD_CALLBACK_PLUGINS=1 \
    ansible pgstandby-standby -i "$inventory" -m djangostack.deploy.pg_promote --become --become-user postgres)
  wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  python3 -c '
import json, sys
run, wall_ms = sys.argv[1], int(sys.argv[2])
r = json.load(sys.stdin)["plays"][0]["tasks"][0]["hosts"]["pgstandby-standby"]
print("run {}: timeline {} -> {}, promotion to first write {} s, ansible call {:.2f} s".format(
    run, r["previous_timeline"], r["timeline"], r["seconds"], wall_ms / 1000))
' "$run" "$wall_ms" <<<"$result"
done
