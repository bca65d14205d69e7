"""Helpers shared by the integration tests: run Ansible from the checkout, read its recap."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "drills"))
from ansible_cli import (
    REPO,
    VENV_BIN,
    PlaybookRun,
    adhoc_results,
    ansible_env,
    list_inventory,
    run_playbook,
)

__all__ = [
    "REPO",
    "VENV_BIN",
    "PlaybookRun",
    "adhoc_results",
    "ansible_env",
    "list_inventory",
    "run_playbook",
]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
