"""The test runner (scripts/test.sh, .ci/run) refuses what would make a run lie: a
narrowed run in CI, a narrowed run's summary that hides what it left out, and a
MOLECULE_JOBS that would never start a role. Each refusal comes before any phase runs. A
run past its TEST_DEADLINE stops itself, saying where it stood."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def runner_environment(**env: str) -> dict[str, str]:
    """This process's environment without the runner's own settings, which come from the
    test alone: CI exports TEST_ALL_PHASES, and `make test` runs these tests in a lane
    whose PHASE_RECORDS file a phase run here would write into (a phantom "lint passed"
    in the real summary, counted among the phases that passed)."""
    settings = ("PHASES", "MOLECULE_JOBS", "TEST_ALL_PHASES", "PHASE_RECORDS", "TEST_DEADLINE")
    return {**{k: v for k, v in os.environ.items() if k not in settings}, **env}


def bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=runner_environment(), capture_output=True, text=True
    )


def run(command: list[str], **env: str) -> tuple[int, str]:
    """The command's exit status and output, up to the first phase it starts: a runner
    that failed to refuse is stopped there (its process group killed) instead of running
    the suite inside this test."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=runner_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("======== phase "):
            os.killpg(process.pid, signal.SIGKILL)
            break
    return process.wait(timeout=60), "".join(lines)


def test_ci_refuses_a_run_that_phases_narrows() -> None:
    status, output = run(["bash", ".ci/run"], PHASES="lint unit")
    assert "phase setup" not in output  # nothing ran
    assert status != 0
    assert "refused" in output
    assert "leave out: app role-arguments ec2 molecule collection stack" in output


def test_molecule_jobs_zero_is_refused_with_its_name() -> None:
    status, output = run(["bash", "scripts/test.sh", "molecule"], MOLECULE_JOBS="0")
    assert "phase setup" not in output
    assert status == 2
    assert "MOLECULE_JOBS must be a whole number of roles tested at once, 1 or more: got '0'" in (
        output
    )


def test_a_narrowed_run_names_each_phase_it_left_out() -> None:
    script = (
        "source scripts/phases.sh; run_phase lint true; skip_phase molecule; skip_phase stack; "
        "phase_summary"
    )
    result = bash(script)
    assert result.returncode == 0  # a narrowed run may pass, but says what it is
    assert "phases: 1 passed, 0 failed, 2 NOT RUN (molecule stack): not the whole suite" in (
        result.stdout
    )
    assert "molecule         skipped" in result.stdout


def test_a_phase_that_fails_in_a_background_lane_fails_the_run(tmp_path: Path) -> None:
    """The lab-free phases run in two background lanes: their results must reach the
    parent's summary, or a failed lint would end green."""
    script = (
        "source scripts/phases.sh; "
        f"export PHASE_RECORDS={tmp_path}/records; "
        "(run_phase lint false) & (run_phase unit true) & wait; unset PHASE_RECORDS; "
        f"read_phase_records {tmp_path}/records; run_phase stack true; phase_summary"
    )
    result = bash(script)
    assert result.returncode != 0
    assert "phases: 2 passed, 1 failed" in result.stdout
    assert "lint             FAILED (exit 1)" in result.stdout


def test_these_tests_never_record_into_the_lane_running_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = tmp_path / "records"
    monkeypatch.setenv("PHASE_RECORDS", str(records))
    assert bash("source scripts/phases.sh; run_phase lint true").returncode == 0
    assert not records.exists()


def test_a_run_past_its_deadline_stops_naming_the_phase_still_running() -> None:
    script = "source scripts/phases.sh; watch_deadline 2; run_phase molecule sleep 60; echo went on"
    started = time.monotonic()
    result = bash(script)  # returns at end of output: nothing of the run may hold it open
    assert time.monotonic() - started < 20
    assert result.returncode != 0
    assert "---- phase molecule, running for " in result.stdout
    assert "went on" not in result.stdout
    # The last line, where CI's cut log still shows it.
    assert result.stdout.rstrip().endswith("DEADLINE: stopped after 2s (TEST_DEADLINE) ========")


def test_a_run_within_its_deadline_ends_as_without_one() -> None:
    """As scripts/test.sh runs: phases in a background lane that the run waits for."""
    script = (
        "source scripts/phases.sh; watch_deadline 60; (run_phase lint true) & wait; "
        "run_phase unit true; phase_summary"
    )
    started = time.monotonic()
    result = bash(script)
    assert time.monotonic() - started < 20
    assert result.returncode == 0
    assert "DEADLINE" not in result.stdout
    assert "phases: 1 passed, 0 failed" in result.stdout  # the lane's records are not read
