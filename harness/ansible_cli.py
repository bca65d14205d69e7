"""Run Ansible from the checkout: the one place drills and tests share for it.

The checkout's .venv and ansible.cfg (djangostack.deploy resolves from
ansible_collections/), a UTF-8 locale (ansible-core 2.19 refuses to run without one) and
plain output. Everything else comes from the caller's environment: a Molecule scenario's
tests keep Molecule's ANSIBLE_CONFIG, ANSIBLE_COLLECTIONS_PATH and MOLECULE_* variables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO, CommandFailed

# The tools beside the Python running the harness (the checkout's .venv, by make's PATH):
# never those of whatever virtualenv the caller's shell has activated, whose ansible may
# lack the collections the checkout's has.
VENV_BIN = Path(sys.executable).parent
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counts per host: {'cache1': {'ok': 6, 'changed': 0, ...}}."""
        return {
            match["host"]: {
                key: int(value)
                for key, value in (pair.split("=") for pair in match["counts"].split())
            }
            for match in RECAP_LINE.finditer(self.output)
        }

    def changed_hosts(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items() if counts["changed"]}


def ansible_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    env.update(extra or {})
    return env


def adhoc_results(json_output: str) -> dict[str, dict[str, Any]]:
    """Each host's result from an ad-hoc command's json callback output. Every task of the
    play is read: Mitogen's strategy (ansible.cfg) reports each host as a task of its own,
    the linear strategy all hosts under one task."""
    tasks = json.loads(json_output)["plays"][0]["tasks"]
    return {host: result for task in tasks for host, result in task["hosts"].items()}


def run_ansible(
    tool: str,
    *args: str | Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """One of Ansible's command-line tools (ansible, ansible-playbook, ansible-inventory,
    ansible-galaxy) from the checkout's .venv, in ansible_env, its output captured.
    check: raise CommandFailed, with the output, when it exits non-zero."""
    proc = subprocess.run(
        [str(VENV_BIN / tool), *map(str, args)],
        cwd=cwd,
        env=ansible_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc


def adhoc(
    pattern: str,
    inventory: str | Path,
    *args: str,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
) -> dict[str, dict[str, Any]]:
    """An ad-hoc command (`ansible <pattern> -i <inventory> <args>`): each host's result,
    read from the json callback (a failed module's result too, unless check)."""
    json_callback = {
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
    }
    proc = run_ansible(
        "ansible",
        pattern,
        "-i",
        inventory,
        *args,
        cwd=cwd,
        env={**(env or {}), **json_callback},
        timeout=timeout,
        check=check,
    )
    return adhoc_results(proc.stdout)


def run_playbook(
    *args: str | Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: int = 900,
    quiet: bool = False,
) -> PlaybookRun:
    """Run ansible-playbook and return its exit code and output (printed unless quiet, so
    that pytest shows it on failure)."""
    proc = run_ansible("ansible-playbook", *args, cwd=cwd, env=env, timeout=timeout)
    output = proc.stdout + proc.stderr
    if not quiet:
        print(output)
    return PlaybookRun(proc.returncode, output)


def run_scenario_playbook(playbook: str | Path, *args: str, timeout: int = 300) -> PlaybookRun:
    """From a role scenario's tests, while Molecule runs them: a playbook (a name in the
    scenario's directory, such as converge.yml, or a path) on the scenario's inventory,
    with Molecule's environment (its ANSIBLE_CONFIG and collections path)."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return run_playbook("-i", inventory, *args, scenario / playbook, timeout=timeout, quiet=True)


def list_inventory(
    inventory: str | Path, env: Mapping[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """ansible-inventory --list --export: the groups and variables a play would get, without
    connecting to any host. The caller checks the exit code (a dead source must fail)."""
    return run_ansible(
        "ansible-inventory", "-i", inventory, "--list", "--export", cwd=cwd, env=env, timeout=120
    )
