# Sourced by scripts/up.sh and scripts/test.sh: run named phases, time each, and close
# with a table and one line "phases: N passed, N failed".
# shellcheck shell=bash

export LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$PWD/.venv/bin:$PATH"

_phases=() _results=() _durations=()

# run_phase NAME COMMAND...: runs COMMAND, records whether it passed and how long it took.
run_phase() {
  local name=$1; shift
  local start=$SECONDS rc=0
  printf '\n======== phase %s ========\n' "$name"
  "$@" || rc=$?
  local took=$((SECONDS - start))
  _phases+=("$name"); _durations+=("$took")
  if [ $rc -eq 0 ]; then _results+=(passed); else _results+=("FAILED (exit $rc)"); fi
  printf '======== phase %s: %s in %ss ========\n' "$name" "${_results[-1]}" "$took"
  return $rc
}

# phase_summary: prints the table; returns non-zero when any phase failed.
phase_summary() {
  local i passed=0 failed=0
  printf '\n%-16s %-20s %s\n' phase result seconds
  for i in "${!_phases[@]}"; do
    printf '%-16s %-20s %s\n' "${_phases[$i]}" "${_results[$i]}" "${_durations[$i]}"
    if [ "${_results[$i]}" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  printf 'total: %ss\n' "$SECONDS"
  printf 'phases: %d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" -eq 0 ]
}
