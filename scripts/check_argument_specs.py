#!/usr/bin/env python3
"""Fail when a role's defaults and its meta/argument_specs.yml do not list the same variables.

Every public variable must be documented (so `ansible-doc -t role` is complete and bad input
fails before anything changes), and every documented option must have a default or be
marked required. A default that is a template (a fact, say) is described in the option's
text instead of `default:`, because validate_argument_spec templates the spec itself.
Run from the repository root; exits 1 and names each mismatch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def role_problems(role: Path) -> list[str]:
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    defaults = defaults or {}
    if not specs_file.exists():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    specs = yaml.safe_load(specs_file.read_text())["argument_specs"]
    # A role with a main entry point documents its variables there; a role used only
    # through other entry points (postgresql) documents each where it is read.
    entry_points = [specs["main"]] if "main" in specs else list(specs.values())
    main = {
        name: spec
        for entry_point in entry_points
        for name, spec in (entry_point.get("options") or {}).items()
    }

    problems = []
    for name in sorted(set(defaults) - set(main)):
        problems.append(f"{role.name}: {name} is in defaults/main.yml but not in argument_specs")
    for name, spec in sorted(main.items()):
        if name not in defaults and not spec.get("required", False):
            problems.append(
                f"{role.name}: {name} is in argument_specs but has no default and is not required"
            )
        if name in defaults and spec.get("default", defaults[name]) != defaults[name]:
            problems.append(
                f"{role.name}: {name} default differs between defaults/main.yml and argument_specs"
            )
        if not name.startswith(role.name.lstrip("_") + "_"):
            problems.append(f"{role.name}: {name} does not carry the role prefix")
        if "description" not in spec:
            problems.append(f"{role.name}: {name} has no description")
    return problems


ROLES = Path("ansible_collections/djangostack/deploy/roles")


def main() -> int:
    roles = sorted(
        p
        for p in Path("ansible_collections/djangostack/deploy/roles").iterdir()
        if (p / "tasks").is_dir()
    )
    problems = [problem for role in roles for problem in role_problems(role)]
    for problem in problems:
        print(problem)
    print(f"argument specs: {len(roles)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
