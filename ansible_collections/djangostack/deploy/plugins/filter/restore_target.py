"""What restore.yml recovers to: the operator's restore_target, checked before any change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: restore_target
short_description: The operator's restore target as pgBackRest's --type and --target, or a refusal
description:
  - Reads I(restore_target) as C(restore.yml) takes it - C(latest) (the end of the archive),
    C(name:<restore point>), or a time with its time zone (C(2026-12-07 11:20:03.5+00:00),
    C(2026-12-07T11:20:03Z)) - and returns pgBackRest's restore type and target.
  - Refuses, naming C(restore_target), a time without a time zone, a time in the future, a
    time before the end of the oldest backup (no backup can reach it), any target when the
    repository holds no backup, and anything else.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The operator's restore target.
    type: str
    required: true
  now:
    description: The current time, in seconds since the epoch.
    type: float
    required: true
  oldest_backup_end:
    description:
      - When the oldest backup in the repository ended, in seconds since the epoch; null
        when the repository holds none.
    type: float
"""

EXAMPLES = r"""
- name: Read the target
  ansible.builtin.set_fact:
    restore_plan: >-
      {{ restore_target | djangostack.deploy.restore_target(now(utc=true).timestamp(),
         pgbackrest_info.backup[0].timestamp.stop) }}
"""

RETURN = r"""
_value:
  description:
    - C(type) (time, name or default) and C(target) for pgBackRest, and C(describe), the
      target in words.
  type: dict
"""

NAME_PREFIX = "name:"
# PostgreSQL's limit on a restore point's name (NAMEDATALEN - 1).
NAME_MAX = 63


def restore_target(value: Any, now: float, oldest_backup_end: float | None) -> dict[str, str]:
    """pgBackRest's --type and --target for the operator's restore_target, or AnsibleFilterError."""
    text = str(value or "").strip()
    if oldest_backup_end is None:
        raise AnsibleFilterError("restore_target: the repository holds no backup to restore from")
    if text == "latest":
        return {"type": "default", "target": "", "describe": "the end of the archive (latest)"}
    if text.startswith(NAME_PREFIX):
        name = text[len(NAME_PREFIX) :]
        if not name or len(name) > NAME_MAX:
            raise AnsibleFilterError(
                f"restore_target: a restore point's name has 1 to {NAME_MAX} characters:"
                f" got {text!r}"
            )
        return {"type": "name", "target": name, "describe": f"the restore point {name!r}"}
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AnsibleFilterError(
            "restore_target must be 'latest', 'name:<restore point>' or a time with its time zone"
            f" (2026-12-07 11:20:03+00:00): got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise AnsibleFilterError(
            f"restore_target {text!r} has no time zone: add one (+00:00 for UTC), so that it"
            " means the same moment on the controller and on the database"
        )
    when = moment.timestamp()
    if when > now:
        raise AnsibleFilterError(f"restore_target {text!r} is in the future (now is {_utc(now)})")
    if when < oldest_backup_end:
        raise AnsibleFilterError(
            f"restore_target {text!r} is before the end of the oldest backup"
            f" ({_utc(oldest_backup_end)}): no backup in the repository can reach it"
        )
    target = _utc(when)
    return {"type": "time", "target": target, "describe": f"the time {target}"}


def _utc(seconds: float) -> str:
    """A moment as PostgreSQL's recovery_target_time reads it, in UTC to the microsecond."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


class FilterModule:
    def filters(self) -> dict[str, Callable[..., dict[str, str]]]:
        return {"restore_target": restore_target}
