#!/usr/bin/env bash
# The whole test suite, phase by phase, with the time each took. Every phase runs even when
# an earlier one failed (so one run shows everything that is wrong); the exit status is
# non-zero when any phase failed. `make test` and .ci/run call this.
set -uo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$PWD/.venv/bin:$PATH"
# Plain logs: CI reads them as text.
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 MOLECULE_NO_COLOR=1 TERM=dumb

phases=() results=() durations=()
run_phase() {
  local name=$1; shift
  local start=$SECONDS rc=0
  printf '\n======== phase %s ========\n' "$name"
  "$@" || rc=$?
  local took=$((SECONDS - start))
  phases+=("$name"); durations+=("$took")
  if [ $rc -eq 0 ]; then results+=(passed); else results+=("FAILED (exit $rc)"); fi
  printf '======== phase %s: %s in %ss ========\n' "$name" "${results[-1]}" "$took"
}

lint() {
  local rc=0
  yamllint --strict . || rc=1
  ansible-lint --profile production --strict || rc=1
  ruff check . || rc=1
  ruff format --check . || rc=1
  python scripts/check_argument_specs.py || rc=1
  # Every role documents itself: ansible-doc must render it.
  for role in roles/*/; do
    role=$(basename "$role")
    [[ $role == _* ]] && continue
    ansible-doc -t role "djangostack.deploy.$role" >/dev/null || { echo "ansible-doc failed for $role"; rc=1; }
  done
  return $rc
}

molecule_all() {
  local rc=0 role
  for role in roles/*/; do
    [ -d "$role/molecule" ] || continue
    local start=$SECONDS
    (cd "$role" && molecule test --all) || rc=1
    printf -- '-- molecule %s: %ss\n' "$(basename "$role")" $((SECONDS - start))
  done
  return $rc
}

run_phase setup bash scripts/setup.sh
if [ "${results[0]}" != passed ]; then
  echo "setup failed: nothing else can run"; exit 1
fi
run_phase lint lint
run_phase role-arguments pytest -q tests/integration/test_role_arguments.py
run_phase molecule molecule_all
run_phase collection pytest -q tests/integration/test_collection_install.py
run_phase lab pytest -q tests/integration/test_lab.py

printf '\n%-16s %-20s %s\n' phase result seconds
passed=0 failed=0
for i in "${!phases[@]}"; do
  printf '%-16s %-20s %s\n' "${phases[$i]}" "${results[$i]}" "${durations[$i]}"
  if [ "${results[$i]}" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
printf 'total: %ss\n' "$SECONDS"
printf 'phases: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
