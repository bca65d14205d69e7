"""manage.py ensure_member --username NAME: a member account, its password from the environment.

The password comes from DJANGOSTACK_MEMBER_PASSWORD, never from the command line (which
any user of the host can read in the process list). Idempotent: prints "unchanged" when
the account exists with that password, so a deploy can run it every time.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

PASSWORD_VARIABLE = "DJANGOSTACK_MEMBER_PASSWORD"


class Command(BaseCommand):
    help = (
        f"Create or update a member (not staff) with the password in ${PASSWORD_VARIABLE}; "
        "prints 'unchanged' when nothing had to change."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password:
            raise CommandError(f"{PASSWORD_VARIABLE} is empty: set the member's password there")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        if not created and user.check_password(password) and user.is_active:
            self.stdout.write(f"member {user.username}: unchanged")
            return
        user.set_password(password)
        user.is_active = True
        user.save()
        self.stdout.write(f"member {user.username}: {'created' if created else 'updated'}")
