"""Ansible's linear strategy, run through Mitogen (ansible.cfg: `strategy = mitogen_linear`).

Why: every task on the lab's containers started a new Python behind `docker exec`, which
recompiled AnsiballZ's module_utils before doing any work: about 0.2 s of a task's 0.26 s.
Mitogen keeps one interpreter per host for the run and caches the imports (a warm
`site.yml` on the lab: 74 s with the plain linear strategy, 27 s with this one). The
tasks, their order and their results are Ansible's own: only how a module reaches the
host changes. Mitogen redirects the connections it knows by their short names (`docker`,
`ssh`, `local`), which is why the lab's inventory says `ansible_connection: docker`.

Mitogen ships this strategy inside its package, whose path depends on the virtualenv and
the Python version; this file gives it a fixed place in the checkout.
"""

from __future__ import annotations

from ansible.errors import AnsibleError

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as exc:  # pragma: no cover - the message is the point
    raise AnsibleError(
        "the mitogen_linear strategy (ansible.cfg) needs Mitogen in Ansible's Python: "
        "run `make setup` and use .venv/bin/ansible-playbook, or pip install the mitogen "
        f"version pyproject.toml pins ({exc})"
    ) from exc

__all__ = ["StrategyModule"]
