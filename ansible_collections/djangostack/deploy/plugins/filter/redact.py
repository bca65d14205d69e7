"""Text with every secret in it masked: what a one-off command may print, and a log may keep."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import quote, unquote, urlsplit

DOCUMENTATION = r"""
name: redact
short_description: Mask secrets in a text
description:
  - Replaces every occurrence of each secret in the text with C(********), the longest
    secrets first (so a secret that contains another is masked whole).
  - A secret that is a URL with a password (C(postgres://user:password@host/db), Django's
    C(DATABASE_URL)) has its password masked too, in its plain and percent-encoded forms.
  - Empty secrets and secrets shorter than 4 characters are ignored, so that masking C(1)
    or C(true) cannot garble a whole output.
  - C(playbooks/manage.yml) shows a management command's output through it, with the
    release's secrets and the command's own environment.
version_added: 0.1.0
author: djangostack team
options:
  _input:
    description: The text.
    type: str
    required: true
  secrets:
    description: The values to mask.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Show the command's output, secrets masked
  ansible.builtin.debug:
    msg: "{{ _run.stdout | djangostack.deploy.redact(_secrets) }}"
"""

RETURN = r"""
_value:
  description: The text, each secret replaced with C(********).
  type: str
"""

MASK = "********"
SHORTEST = 4


def _forms(secret: str) -> set[str]:
    """The secret, and the password inside it when it is a URL with one."""
    forms = {secret}
    if "://" in secret:
        password = urlsplit(secret).password
        if password:
            forms |= {password, unquote(password), quote(unquote(password), safe="")}
    return {form for form in forms if len(form) >= SHORTEST}


def redact(text: object, secrets: Iterable[object]) -> str:
    """text with every form of every secret replaced by MASK."""
    result = str(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret is not None:
            forms |= _forms(str(secret))
    for form in sorted(forms, key=len, reverse=True):
        result = result.replace(form, MASK)
    return result


class FilterModule:
    def filters(self) -> dict[str, Callable[..., str]]:
        return {"redact": redact}
