#!/usr/bin/env bash
# `make drills`: each failure drill at full length on the lab that `make up` built, one
# after the other, each ending with its table of figures (docs/drills.md has the figures
# and what they mean). `make drills RUNS=3` repeats each. Every drill sends traffic only
# to 127.0.0.1 and the lab's own containers, and leaves the stack as it found it.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/phases.sh
runs=${1:-1}

docker inspect djangostack-varnish1 >/dev/null 2>&1 || { echo "no lab: run make up first"; exit 1; }
run_phase web-server-stop python -m harness.drills.web_server_loss --how stop --runs "$runs"
run_phase web-server-kill python -m harness.drills.web_server_loss --how kill --runs "$runs"
run_phase cache-node-kill python -m harness.drills.cache_node_loss --how kill --runs "$runs"
run_phase primary-pgpool python -m harness.drills.primary_loss --mode pgpool --runs "$runs"
run_phase primary-playbook python -m harness.drills.primary_loss --mode playbook --runs "$runs"
# Two minutes of saturating load on the front door and the load balancer: no failover.
run_phase busy-primary python -m harness.drills.busy_primary --seconds 120
# One app server cut off from the primary for 20 s, then the standby with it: never two
# primaries, no write lost (pgpool's watchdog refuses a failover without a majority).
run_phase partition python -m harness.drills.partition --hold 20
run_phase partition-standby-too python -m harness.drills.partition --hold 20 --standby-too
# Five cycles per run: the primary lost (pgpool's failover, then failover.yml) or moved,
# rejoined and switched back, under API writes through the front door.
run_phase failover-cycles python -m harness.drills.failover_cycles --cycles $((5 * runs)) --check-site
run_phase rolling-deploy python -m harness.drills.rolling_deploy --runs "$runs"
# Last, once: it rewrites the database. Grown to 1 GB with the league generator (and left
# so), a full backup under writes, a bad migration (TRUNCATE), restore.yml to just before it.
run_phase pitr python -m harness.drills.pitr --grow-to-mb 1024
phase_summary
