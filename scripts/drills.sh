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
run_phase web-server-stop drills/web_server_loss.py --how stop --runs "$runs"
run_phase web-server-kill drills/web_server_loss.py --how kill --runs "$runs"
run_phase cache-node-kill drills/cache_node_loss.py --how kill --runs "$runs"
run_phase primary-pgpool drills/primary_loss.py --mode pgpool --runs "$runs"
run_phase primary-playbook drills/primary_loss.py --mode playbook --runs "$runs"
# Two minutes of saturating load on the front door and the load balancer: no failover.
run_phase busy-primary drills/busy_primary.py --seconds 120
# One app server cut off from the primary for 20 s, then the standby with it: never two
# primaries, no write lost (pgpool's watchdog refuses a failover without a majority).
run_phase partition drills/partition.py --hold 20
run_phase partition-standby-too drills/partition.py --hold 20 --standby-too
# Five cycles per run: the primary lost (pgpool's failover, then failover.yml) or moved,
# rejoined and switched back, under API writes through the front door.
run_phase failover-cycles drills/failover_cycles.py --cycles $((5 * runs))
run_phase rolling-deploy drills/rolling_deploy.py --runs "$runs"
phase_summary
