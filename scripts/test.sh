#!/usr/bin/env bash
# The whole test suite, phase by phase, with the time each took. Every phase runs even when
# an earlier one failed (so one run shows everything that is wrong); the exit status is
# non-zero when any phase failed. `make test` and .ci/run call this; `make test PHASES=lint`
# runs only the phases named.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/phases.sh
# Plain logs: CI reads them as text.
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 MOLECULE_NO_COLOR=1 TERM=dumb

# The collection that ships; everything else in the checkout is the harness that proves it.
COLLECTION=ansible_collections/djangostack/deploy

lint() {
  local rc=0
  yamllint --strict . || rc=1
  ansible-lint --profile production --strict || rc=1
  ruff check . || rc=1
  ruff format --check . || rc=1
  python scripts/check_argument_specs.py || rc=1
  # ansible-test sanity on the collection (validate-modules, pylint, import, ansible-doc...).
  bash scripts/ansible_test.sh sanity || rc=1
  # Every role documents itself: ansible-doc must render it.
  for role in "$COLLECTION"/roles/*/; do
    role=$(basename "$role")
    ansible-doc -t role "djangostack.deploy.$role" >/dev/null || { echo "ansible-doc failed for $role"; rc=1; }
  done
  return $rc
}

# One role's scenarios, its output printed as one block when they end (two roles run at
# once, and interleaved logs would be unreadable).
molecule_role() {
  local role=$1 logs=$2 start=$SECONDS rc=0
  (cd "$COLLECTION/roles/$role" && molecule test --all) >"$logs/$role" 2>&1 || rc=1
  printf -- '-- molecule %s: %ss%s\n' "$role" $((SECONDS - start)) "$( ((rc)) && echo ', FAILED')" >>"$logs/$role"
  flock "$logs" cat "$logs/$role"
  return $rc
}

# Every role's scenarios, MOLECULE_JOBS (3) roles at a time: each scenario has its own
# containers and network, and most of a scenario's time is spent waiting on its hosts
# (measured with Mitogen on 2 cores: 536 s two at a time, 454 s three at a time).
# Longest first (their times in a fresh-clone run: pgpool 479 s, django_app 234,
# pg_standby 227, pgbackrest 198 (alone), varnish 145, postgresql_primary 129, apache_modwsgi 99, nginx_lb 82,
# memcached 42), so that the short ones fill the end instead of leaving a core idle; a
# role not in this list goes last.
MOLECULE_ORDER=(pgpool django_app pg_standby pgbackrest firewall varnish postgresql_primary apache_modwsgi postgresql nginx_lb memcached)
molecule_all() {
  local jobs=$MOLECULE_JOBS rc=0 role pid pids=() logs
  local roles=()
  logs=$(mktemp -d)
  for role in "${MOLECULE_ORDER[@]}"; do
    [ -d "$COLLECTION/roles/$role/molecule" ] && roles+=("$role")
  done
  for role in "$COLLECTION"/roles/*/molecule; do
    role=$(basename "$(dirname "$role")")
    [[ " ${roles[*]} " == *" $role "* ]] || roles+=("$role")
  done
  for role in "${roles[@]}"; do
    while (($(jobs -pr | wc -l) >= jobs)); do wait -n || true; done
    molecule_role "$role" "$logs" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  rm -rf "$logs"
  return $rc
}

# Phases to run: all by default, or those named (`scripts/test.sh lint molecule`, or
# PHASES="lint molecule" for make, which also reads PHASES from the environment). The
# phases left out are named in the summary; with TEST_ALL_PHASES=1 (.ci/run) a narrowed
# run is refused before anything runs.
ALL_PHASES=(lint unit app role-arguments ec2 molecule collection stack)
wanted=("${@:-${ALL_PHASES[@]}}")
for phase in "${wanted[@]}"; do
  [[ " ${ALL_PHASES[*]} " == *" $phase "* ]] || { echo "unknown phase $phase (known: ${ALL_PHASES[*]})"; exit 2; }
done
left_out=()
for phase in "${ALL_PHASES[@]}"; do
  [[ " ${wanted[*]} " == *" $phase "* ]] || left_out+=("$phase")
done
if [ "${TEST_ALL_PHASES:-0}" = 1 ] && [ ${#left_out[@]} -gt 0 ]; then
  echo "refused: this run must test every phase, and the phases given (${wanted[*]}) leave out: ${left_out[*]}."
  echo "PHASES=\"${PHASES:-}\" in the environment narrows make test: unset it."
  exit 2
fi
# The molecule phase runs this many roles at once; 0 would never start one.
MOLECULE_JOBS=${MOLECULE_JOBS:-3}
if ! [[ $MOLECULE_JOBS =~ ^[1-9][0-9]*$ ]]; then
  echo "MOLECULE_JOBS must be a whole number of roles tested at once, 1 or more: got '${MOLECULE_JOBS}'"
  exit 2
fi

# One phase's command.
phase_command() {
  case $1 in
    lint) lint ;;
    # The collection's own unit tests through ansible-test, then the harness's.
    unit) bash scripts/ansible_test.sh units && pytest -q tests/unit ;;
    # The sample Django app's own tests (pytest-django, SQLite; sample_django/pytest.ini).
    app) pytest -q sample_django ;;
    # Every case in one ansible-playbook run on the controller alone.
    role-arguments) pytest -q tests/integration/test_role_arguments.py ;;
    # provision_ec2.yml, the aws_ec2 inventory and teardown_ec2.yml against moto on 127.0.0.1.
    ec2) pytest -q tests/integration/test_ec2.py ;;
    molecule) molecule_all ;;
    collection) pytest -q tests/integration/test_collection_install.py ;;
    # The whole-stack scenario (molecule/default): the lab built, site.yml twice, the
    # request path, the segmentation and the drills' short versions; the lab removed.
    stack) molecule test ;;
  esac
}

# run_lane PHASE...: the wanted ones among these phases, one after the other, each one's
# output printed as one block when it ends (two lanes run at once).
run_lane() {
  local phase
  for phase; do
    [[ " ${wanted[*]} " == *" $phase "* ]] || continue
    run_phase "$phase" phase_command "$phase" >"$lanes/$phase" 2>&1
    flock "$lanes" cat "$lanes/$phase"
  done
}

# TEST_DEADLINE (seconds; .ci/run sets it under CI's limit): a run still going then is
# stopped, saying where it stood (watch_deadline, scripts/phases.sh).
if [ -n "${TEST_DEADLINE:-}" ]; then
  [[ $TEST_DEADLINE =~ ^[1-9][0-9]*$ ]] || { echo "TEST_DEADLINE must be a whole number of seconds: got '$TEST_DEADLINE'"; exit 2; }
  watch_deadline "$TEST_DEADLINE"
fi
run_phase setup bash scripts/setup.sh || { echo "setup failed: nothing else can run"; exit 1; }
# The phases that need no lab are each mostly one process on one core: two lanes of them
# at once (measured: 235 s one after the other, 140 s in lanes). The phases with
# containers then run alone: they keep both cores busy (the whole-stack scenario took
# 727 s with the lanes beside it, against 495 s alone and 140 s of lanes before it).
lanes=$(mktemp -d)
export PHASE_RECORDS=$lanes/records
run_lane role-arguments ec2 &
run_lane lint unit app collection &
wait
unset PHASE_RECORDS
read_phase_records "$lanes/records"
rm -rf "$lanes"
for phase in molecule stack; do
  [[ " ${wanted[*]} " == *" $phase "* ]] && run_phase "$phase" phase_command "$phase"
done
for phase in "${left_out[@]}"; do skip_phase "$phase"; done
phase_summary
