# Sourced by scripts/up.sh and scripts/test.sh: run named phases, time each, and close
# with a table and one line "phases: N passed, N failed".
# shellcheck shell=bash

export LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$PWD/.venv/bin:$PATH"

_phases=() _results=() _durations=()
# Each phase's output is also kept here, so that the summary can repeat the end of a
# failed phase's output: a CI log cut to its last lines still shows why it failed.
_phase_logs=$(mktemp -d /tmp/djangostack-phases.XXXXXX)

# run_phase NAME COMMAND...: runs COMMAND, records whether it passed and how long it took.
run_phase() {
  local name=$1; shift
  local start=$SECONDS rc=0
  printf '\n======== phase %s ========\n' "$name"
  date +%s >"$_phase_logs/$name.started"
  if [ -t 1 ]; then
    # On a terminal the output stays in sight (and in colour): nothing to repeat.
    "$@" || rc=$?
  else
    { "$@" || rc=$?; echo $rc >"$_phase_logs/$name.rc"; } 2>&1 | tee "$_phase_logs/$name"
    rc=$(cat "$_phase_logs/$name.rc")
  fi
  rm -f "$_phase_logs/$name.started"
  local took=$((SECONDS - start))
  _phases+=("$name"); _durations+=("$took")
  if [ $rc -eq 0 ]; then _results+=(passed); else _results+=("FAILED (exit $rc)"); fi
  printf '======== phase %s: %s in %ss ========\n' "$name" "${_results[-1]}" "$took"
  # A phase run in a background lane records itself for the parent shell to read back.
  [ -z "${PHASE_RECORDS:-}" ] || printf '%s\t%s\t%s\n' "$name" "${_results[-1]}" "$took" >>"$PHASE_RECORDS"
  return $rc
}

# read_phase_records FILE: the phases that background lanes ran, into this shell's summary.
read_phase_records() {
  local name result took
  [ -f "$1" ] || return 0
  while IFS=$'\t' read -r name result took; do
    _phases+=("$name"); _results+=("$result"); _durations+=("$took")
  done <"$1"
}

# skip_phase NAME: a phase this run leaves out, named in the summary so that a narrowed
# run cannot pass for the whole suite.
skip_phase() {
  _phases+=("$1"); _results+=(skipped); _durations+=(-)
}

# phase_summary: prints the table; returns non-zero when any phase failed.
phase_summary() {
  local i passed=0 failed=0 skipped=()
  # The end of each failed phase's output first, so that the table stays the last thing.
  for i in "${!_phases[@]}"; do
    case ${_results[$i]} in passed|skipped) continue ;; esac
    printf '\n---- the last 60 lines of phase %s ----\n' "${_phases[$i]}"
    tail -n 60 "$_phase_logs/${_phases[$i]}" 2>/dev/null
  done
  rm -rf "$_phase_logs"
  printf '\n%-16s %-20s %s\n' phase result seconds
  for i in "${!_phases[@]}"; do
    printf '%-16s %-20s %s\n' "${_phases[$i]}" "${_results[$i]}" "${_durations[$i]}"
    case ${_results[$i]} in
      passed) passed=$((passed + 1)) ;;
      skipped) skipped+=("${_phases[$i]}") ;;
      *) failed=$((failed + 1)) ;;
    esac
  done
  printf 'total: %ss\n' "$SECONDS"
  if [ ${#skipped[@]} -gt 0 ]; then
    printf 'phases: %d passed, %d failed, %d NOT RUN (%s): not the whole suite\n' \
      "$passed" "$failed" ${#skipped[@]} "${skipped[*]}"
  else
    printf 'phases: %d passed, %d failed\n' "$passed" "$failed"
  fi
  [ "$failed" -eq 0 ]
}

# watch_deadline LIMIT: ends the run, from the background, if it is still going LIMIT
# seconds from now, after saying which phases were running and how each one's output
# ended. CI stops a run at its own limit without a word about the phases, and shows only
# the log's last lines: with a LIMIT a little shorter, those lines say where the run stood.
watch_deadline() {
  local top=$$ end=$((SECONDS + $1)) limit=$1
  (
    me=$BASHPID
    # Until the run's shell ends: gone, or a zombie its parent has not reaped yet (which
    # kill -0 would count as alive, the parent waiting on this very output to close).
    while ps -o stat= -p "$top" 2>/dev/null | grep -qv '^Z'; do
      if [ $SECONDS -ge $end ]; then
        printf '\n======== DEADLINE: the run is stopped, still going after %ss ========\n' "$limit"
        for started in "$_phase_logs"/*.started; do
          [ -e "$started" ] || continue
          name=$(basename "$started" .started)
          printf -- '---- phase %s, running for %ss; the last 12 lines of its output:\n' \
            "$name" $(($(date +%s) - $(cat "$started")))
          tail -n 12 "$_phase_logs/$name" 2>/dev/null
        done
        # Every process under the run's shell, but this one.
        descendants() {
          local pid
          for pid in $(ps -o pid= --ppid "$1"); do
            [ "$pid" = "$me" ] && continue
            echo "$pid"
            descendants "$pid"
          done
        }
        # shellcheck disable=SC2046 # one pid per word
        kill -KILL "$top" $(descendants "$top") 2>/dev/null
        printf '\n======== DEADLINE: stopped after %ss (TEST_DEADLINE) ========\n' "$limit"
        exit 1
      fi
      sleep 5
    done
  ) &
  # Out of the shell's jobs: test.sh's `wait` for its lanes would wait for this too, till
  # the deadline (it did, once).
  disown $!
}
